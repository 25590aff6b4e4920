"""Where qa keeps what it makes for itself, outside any folder of the user's (ONNX exports, build locks), and how a file that only saves time is written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

CACHE_ENV = "QA_CACHE_DIR"


def cache_dir() -> Path:
    """$QA_CACHE_DIR, else $XDG_CACHE_HOME/qa, else ~/.cache/qa."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qa"


def write_quietly(path: Path, text: str) -> None:
    """Write `path` atomically, or not at all when its folder is read-only (for files that only save
    time: an index's verified stamp, the cached OpenVINO precision)."""
    try:
        with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False,
                                         encoding="utf-8") as out:
            out.write(text)
        os.replace(out.name, path)
    except OSError:
        with contextlib.suppress(OSError, NameError):
            os.unlink(out.name)
