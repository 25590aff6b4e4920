"""Bounds on what a corpus file may cost before any reader sees it: only regular files, not sparse,
within a size per kind, and read once, so that the hash recorded is that of the bytes read."""

from __future__ import annotations

import errno
import hashlib
import os
import stat as st
from pathlib import Path


MB = 1 << 20
# The largest file of each kind qa reads (bytes): a text's characters, a page's tree, a PDF held in
# memory while pdfium parses it all grow with the file; past these the file is refused, not read.
MAX_BYTES = {"text": 64 * MB, "markdown": 64 * MB, "html": 32 * MB, "pdf": 512 * MB, "docx": 256 * MB}
SPARSE_FROM = 1 * MB  # a file this large that stores under half its size on disk is sparse (holes read as zeros)
_KINDS = {st.S_IFIFO: "a FIFO", st.S_IFCHR: "a character device", st.S_IFBLK: "a block device",
          st.S_IFSOCK: "a socket", st.S_IFDIR: "a folder"}


class Unreadable(Exception):
    """A file the reader cannot turn into text; the message is the reason shown after the file's name,
    `short` the few words a summary counts it under ("encrypted", "not a PDF")."""

    def __init__(self, reason: str, short: str = ""):
        super().__init__(reason)
        self.short = short or reason.split(" (")[0]


class Changed(Exception):
    """The file changed while it was read (its size or mtime before and after differ)."""


def refusal(info: os.stat_result) -> Unreadable | None:
    """Why a file with this stat must not be read at all (a special file, a sparse file), else None."""
    if not st.S_ISREG(info.st_mode):
        what = _KINDS.get(st.S_IFMT(info.st_mode), "not a regular file")
        return Unreadable(f"not a regular file ({what}); qa reads only regular files", "special file")
    blocks = getattr(info, "st_blocks", None)
    if blocks is not None and info.st_size >= SPARSE_FROM and blocks * 512 < info.st_size // 2:
        return Unreadable(f"a sparse file ({info.st_size / MB:,.0f} MB long, {blocks * 512 / MB:,.0f} MB stored); "
                          f"not a document", "sparse file")
    return None


def open_checked(path: Path) -> int:
    """A descriptor of `path`, a regular file that is not sparse: refused by its stat before it is
    opened, and by the opened file's own stat (the path may have been swapped between)."""
    first = refusal(os.stat(path))
    if first is not None:
        raise first
    # O_NONBLOCK: should a FIFO take the file's place after the stat, opening it does not wait for a writer
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    again = refusal(os.fstat(fd))
    if again is not None:
        os.close(fd)
        raise again
    return fd


def read_checked(path: Path, kind: str) -> tuple[bytes, os.stat_result]:
    """The file's bytes and its stat, read once (the caller hashes these very bytes); Unreadable for a
    special, sparse or too large file, Changed when it changed while it was read."""
    try:
        fd = open_checked(path)
    except OSError as exc:
        raise Unreadable(f"cannot be read ({exc.strerror})", "cannot be read") from None
    try:
        before = os.fstat(fd)
        limit = MAX_BYTES.get(kind, 64 * MB)
        if before.st_size > limit:
            raise Unreadable(f"too large ({before.st_size / MB:,.0f} MB; qa reads {kind} files up to "
                             f"{limit // MB} MB)", "too large")
        data = _read_all(fd, limit + 1)
        after = os.fstat(fd)
    except OSError as exc:
        raise Unreadable(f"cannot be read ({exc.strerror})", "cannot be read") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise Unreadable(f"too large (over {limit // MB} MB; qa reads {kind} files up to {limit // MB} MB)", "too large")
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(data) != after.st_size:
        raise Changed()
    return data, after


def _read_all(fd: int, most: int) -> bytes:
    """Up to `most` bytes of the open file."""
    with os.fdopen(fd, "rb", closefd=False) as handle:
        return handle.read(most)


def checked_sha256(path: Path) -> str:
    """The file's SHA-256, streamed; OSError for what qa refuses to read (a FIFO would block the hash
    for ever, /dev/zero never end it, a sparse file cost gigabytes of zeros)."""
    try:
        fd = open_checked(path)
    except Unreadable as exc:
        raise OSError(errno.EINVAL, str(exc), str(path)) from None
    with os.fdopen(fd, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
