"""Where qa keeps what it makes for itself, outside any folder of the user's (ONNX exports, build locks), and how a file that only saves time is written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .config import cache_dir  # noqa: F401  (read from the environment in config.py, re-exported)


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
