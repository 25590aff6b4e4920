"""The served index read from a private copy, so that a file of it truncated in place cannot kill the server.

Every index file is memory-mapped (store/index.py). Truncating a mapped file under a running server
(`: > index/dense.faiss`, a careless sync tool) made the next read of a lost page a SIGBUS: the server
died with nothing logged and every connection dropped. Python cannot catch a SIGBUS raised inside FAISS
or NumPy, so the server maps a copy of its own instead, in a private temporary folder (mode 0700) that
no other tool knows of. `qa index` never writes an index in place (it swaps a new folder in), so the
copy is taken again when the manifest changes, and the copy before it removed one swap later (a
request may still be reading it); all at shutdown, and a killed server's by the next server to start. An index over `COPY_MAX_BYTES` (or when the copy fails, e.g. a full
disk) is served from its own files, as before, with a warning: copying it would double its disk use.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from ..store.local.folder import MANIFEST, VERIFIED

COPY_MAX_BYTES = int(os.environ.get("QA_SERVE_COPY_MAX_BYTES", 4 << 30))
PREFIX = "qa-serve-"  # then the server's pid: a copy whose server is gone (killed) is removed by the next
Warn = Callable[[str], None]


class Snapshots:
    """Private copies of one index folder, the newest served, the one before kept until the next."""

    def __init__(self, warn: Warn | None = None, max_bytes: int = COPY_MAX_BYTES) -> None:
        self.warn, self.max_bytes = warn, max_bytes
        self.copies: list[Path] = []
        atexit.register(self.remove_all)

    def take(self, index_dir: Path) -> Path:
        """A private copy of `index_dir` to load, or `index_dir` itself when it is too large to copy."""
        index_dir = Path(index_dir)
        files = [p for p in index_dir.rglob("*") if p.is_file() and p.name != VERIFIED]
        size = sum(p.stat().st_size for p in files)
        if size > self.max_bytes:
            self._say(f"the index ({size / 2**30:.1f} GiB) is served from its own files, not a private copy "
                      f"(over {self.max_bytes / 2**30:.1f} GiB): never truncate or edit them in place")
            return index_dir
        _remove_orphans()
        folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))  # mode 0700
        copy = folder / "index"
        try:
            # the manifest last: a build swapped in meanwhile leaves files that fail its hashes, said at load
            shutil.copytree(index_dir, copy, ignore=lambda _, names: [n for n in names if n in (VERIFIED, MANIFEST)])
            shutil.copy2(index_dir / MANIFEST, copy / MANIFEST)
        except OSError as error:
            shutil.rmtree(folder, ignore_errors=True)
            self._say(f"cannot copy the index to serve it privately ({error.strerror}): serving its own files")
            return index_dir
        self.copies.append(folder)
        while len(self.copies) > 2:  # the one before the last: no request reads it any more
            shutil.rmtree(self.copies.pop(0), ignore_errors=True)
        return copy

    def discard_last(self) -> None:
        """Remove the newest copy (it failed to load or to answer: the one before it stays served)."""
        if self.copies:
            shutil.rmtree(self.copies.pop(), ignore_errors=True)

    def remove_all(self) -> None:
        for folder in self.copies:
            shutil.rmtree(folder, ignore_errors=True)
        self.copies.clear()

    def _say(self, message: str) -> None:
        if self.warn:
            self.warn(message)


def _remove_orphans() -> None:
    """Remove the copies of servers that died without removing theirs (SIGKILL, a crash): this user's
    `qa-serve-PID-*` folders whose PID is no longer running."""
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = folder.name[len(PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass  # running, as another user
