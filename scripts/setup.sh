#!/usr/bin/env bash
# Set up qa on a fresh machine (virtual environment, CPU-only torch, the package and its
# dependencies), then answer the headline question on the bundled corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1

# pip, quietly: this machine's pip configuration names a local index folder that may not exist,
# and pip warns about it once per package.
pip_install() {
  .venv/bin/python -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
}

[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
pip_install --upgrade pip
# Pinned first: this is the CPU build; an unpinned torch pulls a CUDA build of several GB.
pip_install torch==2.13.0
pip_install -e '.[dev]'

if [ "${QA_SETUP_ONLY:-}" != "1" ]; then
  .venv/bin/qa ask "who is most responsible for the diplomacy with north korea"
fi
