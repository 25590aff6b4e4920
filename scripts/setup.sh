#!/usr/bin/env bash
# Set up qa on a fresh machine (virtual environment, CPU-only torch, the package and its
# dependencies), then answer the headline question on the bundled corpus. It says each step as it
# starts, shows pip's own progress, and the time each step and the whole took.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1

STEPS=4
[ "${QA_SETUP_ONLY:-}" = "1" ] && STEPS=3
step=0 started=$SECONDS step_started=$SECONDS

say() {  # "[2/4] Installing ..." before a step, its time after it
  if [ "$step" -gt 0 ]; then echo "      done in $((SECONDS - step_started)) s"; fi
  step=$((step + 1)) step_started=$SECONDS
  echo "[$step/$STEPS] $*"
}

# pip with its progress left on the terminal; only its stderr is filtered: this machine's pip
# configuration may name a local index folder that does not exist, and pip warns about it per package.
pip_install() {
  .venv/bin/python -m pip install "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2 || true)
}

if [ -x .venv/bin/python ]; then
  say "Using the virtual environment in .venv/ (delete it to start afresh)"
else
  say "Making a virtual environment in .venv/ with ${PYTHON:-python3} ($("${PYTHON:-python3}" --version 2>&1))"
  "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2> >(grep -v "^WARNING: Location 'file:" >&2 || true)

# Pinned first: this is the CPU build; an unpinned torch pulls a CUDA build of several GB.
say "Installing torch 2.13.0, CPU build (the largest download, once; it exports the model to ONNX)"
pip_install torch==2.13.0

say "Installing qa and its dependencies, with the test tools (pip install -e '.[dev]')"
pip_install -e '.[dev]'

if [ "${QA_SETUP_ONLY:-}" != "1" ]; then
  say "Indexing corpus/ and asking the headline question (the first index exports the model, once)"
  .venv/bin/qa ask "who is most responsible for the diplomacy with north korea"
fi
echo "      done in $((SECONDS - step_started)) s"
echo "Set up in $(((SECONDS - started) / 60)) min $(((SECONDS - started) % 60)) s. Next: . .venv/bin/activate, then qa --help;" \
     "tests: .venv/bin/python -m pytest -m 'not slow' (everyday) or .venv/bin/python -m pytest (all, as CI)."
