"""An update written as a delta: the base's files linked as they are, new and changed documents in `delta/`.

Rewriting a 100k-passage index for one changed file writes (and syncs) ~550 MB, ~2 s here; at a
million passages ~5.5 GB, ~30 s. A large index's update (from DELTA_FROM passages) instead links
the base's files into the new version (hard links: no byte is copied and nothing old is written),
writes the documents added or changed since the base into `delta/` and lists the base rows they
replace as dead (store/local/delta.py searches both as the one corpus). When the delta or the dead rows
pass DELTA_SHARE of the base the update writes the whole index again instead (a compaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .build_rows import Kept, merge_runs, run_size
from .delta import DEAD, DEAD_DF, DELTA
from .index import (ANN, BM25, DENSE, PASSAGES, SENTENCE_KEYS, SENTENCE_SPANS, SENTENCE_VECTORS, TEXT_KEYS,
                    Index)
from ..lexical import _per_term
from .passage_table import IDS, OFFSETS

# From this many base passages an update is written as a delta (below it, rewriting the index takes
# a second or less: 15k passages, 1.06 s for a one-file edit).
DELTA_FROM = 50_000
DELTA_SHARE = 0.1  # a delta of more passages than this share of the base's, or as many dead rows, is compacted
BASE_FILES = (PASSAGES, OFFSETS, IDS, DENSE, ANN, SENTENCE_SPANS, SENTENCE_VECTORS, TEXT_KEYS, SENTENCE_KEYS)


@dataclass(frozen=True)
class DeltaPlan:
    """What a delta update writes: the delta's pieces, the dead base rows, each document's place."""

    pieces: list  # Kept (from the old delta) and Fresh, in row order
    dead: np.ndarray  # base rows gone, ascending
    places: dict  # doc → ("base" | "delta", its first row there)


def plan_delta(entries: list, old: Index | None, smallest: int) -> DeltaPlan | None:
    """The delta update of `old` for `entries` (each document's (name, piece), in corpus order), or
    None when the update must write the whole index: no base old enough, the delta or its dead
    rows past DELTA_SHARE of the base, or a corpus of `smallest` passages or fewer (searched whole)."""
    if old is None or len(old.passages) < DELTA_FROM:
        return None
    base_count = len(old.passages)
    alive = np.zeros(base_count, dtype=bool)
    places, delta_entries, at = {}, [], 0
    for name, piece in entries:
        if isinstance(piece, Kept) and piece.source is old:
            alive[piece.start : piece.end] = True
            places[name] = ("base", piece.start)
        else:
            delta_entries.append(piece)
            places[name] = (DELTA, at)
            at += run_size(piece)
    dead = np.flatnonzero(~alive)
    if at > DELTA_SHARE * base_count or len(dead) > DELTA_SHARE * base_count \
            or base_count - len(dead) + at <= smallest:
        return None
    return DeltaPlan(merge_runs(delta_entries), dead, places)


def place_files(files: list[dict], plan: DeltaPlan) -> list[dict]:
    """The manifest's file records, each with the segment and first row of its passages."""
    out = []
    for record in files:
        place = plan.places.get(record["doc"])
        out.append({**record, "segment": place[0], "row": place[1]} if place and record.get("passages") else record)
    return out


def link_base(old: Index, staging: Path) -> dict[str, dict]:
    """The base's files of `old` linked into `staging` as they are; their manifest records (their
    hashes are the ones `old`'s manifest recorded and its load verified: no byte is read again)."""
    from ...embed.onnx_export import place_file

    records = old.manifest["file_hashes"]
    linked = {}
    (staging / BM25).mkdir(exist_ok=True)
    for relative in records:
        if relative in BASE_FILES or relative.startswith(f"{BM25}/"):
            place_file(old.path / relative, staging / relative)
            linked[relative] = records[relative]
    return linked


def write_dead(old: Index, dead: np.ndarray, folder: Path) -> int:
    """The dead base rows and each base term's dead postings into the delta's `folder`; the summed
    length of the live base rows (for BM25's mean length)."""
    bm25 = old.bm25
    dead_flags = np.zeros(len(old.passages), dtype=bool)
    dead_flags[dead] = True
    np.save(folder / DEAD, dead.astype(np.int64), allow_pickle=False)
    np.save(folder / DEAD_DF, _per_term(dead_flags[np.asarray(bm25.rows)], np.asarray(bm25.starts)), allow_pickle=False)
    lengths = np.asarray(bm25.lengths, dtype=np.int64)
    return int(lengths.sum() - lengths[dead].sum())
