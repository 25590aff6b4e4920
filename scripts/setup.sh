#!/usr/bin/env bash
# Set up qa on a fresh machine (virtual environment, CPU-only torch, the package and its
# dependencies), then answer the headline question on the bundled corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1

[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Pinned first: this is the CPU build; an unpinned torch pulls a CUDA build of several GB.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e '.[dev]'

if [ "${QA_SETUP_ONLY:-}" != "1" ]; then
  .venv/bin/qa ask "who is most responsible for the diplomacy with north korea"
fi
