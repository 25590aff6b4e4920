"""Where qa keeps what it makes for itself, outside any folder of the user's: ONNX exports, build locks."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "QA_CACHE_DIR"


def cache_dir() -> Path:
    """$QA_CACHE_DIR, else $XDG_CACHE_HOME/qa, else ~/.cache/qa."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa"
