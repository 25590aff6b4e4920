"""The passages of an index read lazily from its passages.jsonl: a row is parsed when it is asked for.

A million Passage objects take ~0.9 GB and several seconds to parse; a search reads a few thousand
rows. So the file is memory-mapped, `passage_offsets.npy` says where each line starts, and
`passage_ids.npy` (a 64-bit digest of each id, sorted, with the row it came from) finds a passage
by id without a dict of every id. Written here because it is ours: the format is our own JSONL.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...ingest.passages import Passage
from .row_file import copy_bytes

OFFSETS = "passage_offsets.npy"  # int64, rows + 1: where each line of passages.jsonl starts
IDS = "passage_ids.npy"  # (rows × 2) uint64: the digest of each id, ascending, and its row
PARSED_KEPT = 1 << 16  # parsed passages kept for the next search (the same candidates recur)


def id_digest(passage_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(passage_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little")


def write_passages(passages: Sequence[Passage], folder: Path, name: str) -> None:
    """passages.jsonl (one JSON object a line) and its offsets and id files into `folder`."""
    with PassageWriter(folder, name) as writer:
        writer.add(passages)


class PassageWriter:
    """passages.jsonl and its offsets and id files, written a run of rows at a time: new passages, or
    rows of another table copied byte for byte (an update keeps its unchanged documents' lines)."""

    def __init__(self, folder: Path, name: str) -> None:
        self._folder = Path(folder)
        self._out = open(self._folder / name, "wb")
        self._ends: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
        self._digests: list[np.ndarray] = []
        self._size = 0

    def add(self, passages: Sequence[Passage]) -> None:
        lengths = np.empty(len(passages), dtype=np.int64)
        for i, passage in enumerate(passages):
            line = (json.dumps(passage.to_dict(), ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
            self._out.write(line)
            lengths[i] = len(line)
        self._ends.append(self._size + np.cumsum(lengths))
        self._size += int(lengths.sum())
        self._digests.append(np.fromiter((id_digest(p.id) for p in passages), dtype=np.uint64, count=len(passages)))

    def copy(self, table: "PassageTable", start: int, end: int) -> None:
        """Rows `start` to `end` (exclusive) of `table`, as they are."""
        first, last = int(table._offsets[start]), int(table._offsets[end])
        self._out.flush()  # the lines written so far, before the copied ones land after them
        copy_bytes(table._file.fileno(), first, self._out.fileno(), self._size, last - first)
        self._out.seek(self._size + last - first)
        self._ends.append(np.asarray(table._offsets[start + 1 : end + 1], dtype=np.int64) - first + self._size)
        self._size += last - first
        self._digests.append(table.digests()[start:end])

    def __enter__(self) -> "PassageWriter":
        return self

    def __exit__(self, *exc) -> None:
        self._out.close()
        if exc[0] is None:
            np.save(self._folder / OFFSETS, np.concatenate(self._ends), allow_pickle=False)
            digests = np.concatenate(self._digests) if self._digests else np.zeros(0, dtype=np.uint64)
            order = np.argsort(digests, kind="stable")
            np.save(self._folder / IDS, np.stack([digests[order], order.astype(np.uint64)], axis=1), allow_pickle=False)


class PassageTable(Sequence):
    """The passages of one index, in row order, parsed on demand (see the module docstring)."""

    def __init__(self, folder: Path, name: str) -> None:
        folder = Path(folder)
        # lines are read with pread, not mapped: a map would also pull the lines around each one read
        # into the process (store/local/row_file.py), the file's whole size over a server's life
        self._file = open(folder / name, "rb")
        size = self._file.seek(0, 2)
        self._offsets = np.load(folder / OFFSETS, mmap_mode="r", allow_pickle=False)
        self._ids = np.load(folder / IDS, mmap_mode="r", allow_pickle=False)
        if len(self._offsets) < 1 or int(self._offsets[-1]) != size or self._ids.shape != (len(self._offsets) - 1, 2):
            raise ValueError("passage offsets or ids do not match passages.jsonl")
        self._parse = functools.lru_cache(maxsize=PARSED_KEPT)(self._parse_row)
        self._row_digests = None

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self._parse(r) for r in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(row)
        return self._parse(row)

    def __iter__(self):
        for row in range(len(self)):  # not kept: a full pass (a build, an evaluation) would fill the cache
            yield self._parse_row(row)

    def __eq__(self, other) -> bool:  # the same passages in the same order as any sequence of them
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None

    def _parse_row(self, row: int) -> Passage:
        start, end = int(self._offsets[row]), int(self._offsets[row + 1])
        return Passage(**json.loads(self.read(start, end).decode("utf-8", "surrogatepass")))

    def read(self, first: int, last: int) -> bytes:
        """Bytes `first` to `last` of passages.jsonl."""
        return os.pread(self._file.fileno(), last - first, first)

    def digests(self) -> np.ndarray:
        """Each row's id digest, in row order."""
        if self._row_digests is None:
            self._row_digests = np.empty(len(self), dtype=np.uint64)
            self._row_digests[np.asarray(self._ids[:, 1], dtype=np.int64)] = self._ids[:, 0]
        return self._row_digests

    def rows(self, rows: np.ndarray) -> "Sequence[Passage]":
        """The passages of `rows`, as a sequence parsed on demand."""
        return _Selected(self, rows)

    def row_of(self, passage_id: str) -> int | None:
        """The row of the passage with this id, or None."""
        digest = np.uint64(id_digest(passage_id))
        digests = self._ids[:, 0]
        at = int(np.searchsorted(digests, digest))
        while at < len(digests) and digests[at] == digest:
            row = int(self._ids[at, 1])
            if self._parse(row).id == passage_id:
                return row
            at += 1
        return None


class _Selected(Sequence):
    """Some rows of a PassageTable, in the order given, parsed when asked for."""

    def __init__(self, table: PassageTable, rows: np.ndarray) -> None:
        self._table, self._rows = table, rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._table[r] for r in self._rows[i]]
        return self._table[self._rows[i]]
