"""Rows of a matrix on disk read with pread, and byte ranges copied file to file by the kernel.

A search gathers a few thousand scattered rows (its candidates' vectors, their sentences' vectors).
Through a memory map each row read also maps the pages around it (the kernel's fault-around, which
madvise(MADV_RANDOM) does not turn off): measured here, gathering 7,400 of 326,200 sentence rows
through a map left 235 of the file's 238 MB in the process's RSS, and after 30 questions a server
on a million passages held 4.8 GB of mapped index pages. Reading the rows with pread copies just
them, and the file stays in the page cache, shared and reclaimable. Written here because numpy
and FAISS offer only the map.

An update copies the unchanged rows of the old index's files into the new ones. Through maps that
is a page fault per 4 KB on both sides: copying a 130 MB sentence-vector file took 0.41-0.46 s
here, copy_file_range 0.08 s (the bytes never enter the process).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class RowFile:
    """The rows of a C-ordered (rows × columns) matrix stored at `offset` in a file."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, int], dtype) -> None:
        self.shape, self.dtype = (int(shape[0]), int(shape[1])), np.dtype(dtype)
        self._row_bytes = self.shape[1] * self.dtype.itemsize
        self._offset = int(offset)
        if os.path.getsize(path) < self._offset + self.shape[0] * self._row_bytes:
            raise ValueError(f"{path} is shorter than its {self.shape} matrix")
        self._fd = os.open(path, os.O_RDONLY)

    @classmethod
    def of_npy(cls, path: Path) -> "RowFile":
        """The matrix of a .npy file (as numpy writes it: C order)."""
        with open(path, "rb") as file:
            version = np.lib.format.read_magic(file)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"{path} is a .npy file of version {version}")
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(file)
            offset = file.tell()
        if fortran or len(shape) != 2:
            raise ValueError(f"{path} does not hold a C-ordered matrix")
        return cls(path, offset, shape, dtype)

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """The matrix's `rows` (ascending; runs of consecutive rows are read in one call)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        if not len(rows):
            return out
        if rows[0] < 0 or rows[-1] >= self.shape[0]:
            raise IndexError("row out of range")
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        firsts = rows[np.concatenate([[0], breaks])].tolist()
        lengths = np.diff(np.concatenate([[0], breaks, [len(rows)]])).tolist()
        at = 0
        for first, length in zip(firsts, lengths):
            self.read_into(first, out[at : at + length])
            at += length
        return out

    def read_into(self, first: int, out: np.ndarray) -> None:
        """Rows `first` to `first + len(out)` into `out` (C-ordered rows of this width and dtype)."""
        if out.dtype != self.dtype or out.shape[1:] != self.shape[1:] or not out.flags.c_contiguous:
            raise ValueError("rows are read into C-ordered rows of the file's width and dtype")
        if first < 0 or first + len(out) > self.shape[0]:
            raise IndexError("row out of range")
        buffer, size = memoryview(out.reshape(-1)).cast("B"), len(out) * self._row_bytes
        at, position = 0, self._offset + first * self._row_bytes
        while at < size:  # preadv may return less than asked (a signal, a large read)
            done = os.preadv(self._fd, [buffer[at:size]], position + at)
            if done <= 0:
                raise OSError(f"short read of rows {first}..{first + len(out)}")
            at += done

    def copy_to(self, target: int, target_offset: int, first: int, end: int) -> None:
        """Rows `first` to `end` (exclusive) into the file open as `target` at byte `target_offset`."""
        if first < 0 or end > self.shape[0] or end < first:
            raise IndexError("row out of range")
        copy_bytes(self._fd, self._offset + first * self._row_bytes, target, target_offset,
                   (end - first) * self._row_bytes)

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)


def copy_bytes(source: int, source_offset: int, target: int, target_offset: int, size: int) -> None:
    """`size` bytes of the file open as `source` (a descriptor) at `source_offset` into `target` at
    `target_offset`, in the kernel where it can (Linux copy_file_range), else through a buffer."""
    copy = getattr(os, "copy_file_range", None)
    while size > 0:
        try:
            done = copy(source, target, size, source_offset, target_offset) if copy else 0
        except OSError:  # a filesystem or kernel without it (EXDEV, ENOSYS, EINVAL): copy by hand
            copy, done = None, 0
        if not done:
            chunk = os.pread(source, min(size, 1 << 24), source_offset)
            if not chunk:
                raise OSError(f"short read at byte {source_offset}")
            done = os.pwrite(target, chunk, target_offset)
        size, source_offset, target_offset = size - done, source_offset + done, target_offset + done
