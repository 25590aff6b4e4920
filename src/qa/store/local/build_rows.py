"""The row files of a build: passages, their vectors and sentences, each row copied from the old index or made anew.

An update's rows come in runs (`Kept`: rows of the index being replaced, copied as they are by
the kernel; `Fresh`: passages read by this build, embedded unless a known vector is found for
their text), written in the order a full build writes them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...ingest.passages import Passage, sentence_spans
from .index import (BM25, DENSE, PASSAGES, SENTENCE_DTYPE, SENTENCE_KEYS, SENTENCE_SPANS, SENTENCE_VECTORS,
                    TEXT_KEYS, Index)
from .passage_table import PassageWriter
from .vector_reuse import KEY_BYTES, KnownVectors, PartialVectors, sentence_texts, text_keys

EMBED_CHUNK = 2048  # texts tokenized and embedded at a time: memory is bounded by this, not by the corpus


@dataclass(frozen=True)
class Kept:
    """Rows `start` to `end` (exclusive) of `source` (the index being replaced, or its delta):
    unchanged documents, one after another there as here."""

    start: int
    end: int
    source: Index = field(compare=False, repr=False)


@dataclass(frozen=True)
class Fresh:
    """Passages read and split by this build."""

    passages: list[Passage]


def run_size(piece) -> int:
    return piece.end - piece.start if isinstance(piece, Kept) else len(piece.passages)


class Vectors:
    """Vectors for texts: known ones taken, new ones embedded (and kept in `partial` at once)."""

    def __init__(self, embedder, known: KnownVectors, partial: PartialVectors, progress=None,
                 totals: dict[str, int] | None = None) -> None:
        # an embedder may have a faster way for many texts (OnnxEmbedder: OpenVINO); questions never use it
        self._encode = getattr(embedder, "encode_passages", embedder.encode)
        self.dimension = embedder.dimension
        self._known, self._partial = known, partial
        self._progress, self._totals, self._step = progress, totals or {}, None
        # texts per call: a pool of many workers (scaleout/) needs more at a time to keep every one busy
        self.chunk = max(EMBED_CHUNK, int(getattr(embedder, "chunk_texts", 0)))
        self.embedded = self.reused = 0
        self.seconds = 0.0  # spent embedding (a lazy model's loading included): what an update adds to copying

    def begin(self, kind: str) -> None:
        """Count the texts that follow as `kind` ("passages", then "sentences"): each kind's progress is
        shown on its own, so a count never mixes passages with the sentences they hold."""
        total = self._totals.get(kind, 0)
        self._step = self._progress(total, kind) if self._progress and total else None

    def of(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The texts' vectors, and their keys (`text_keys`, which the index keeps too)."""
        keys = text_keys(texts)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        missing = self._known.fill(keys, out)
        if missing:
            started = time.perf_counter()
            fresh = np.asarray(self._encode([texts[i] for i in missing], progress=self._step), dtype=np.float32)
            self.seconds += time.perf_counter() - started
            self._partial.save(keys[missing], fresh)
            out[missing] = fresh
        if self._step and len(texts) > len(missing):
            self._step(len(texts) - len(missing))
        self.embedded += len(missing)
        self.reused += len(texts) - len(missing)
        return out, keys


def merge_runs(pieces: list) -> list:
    """`pieces` with each run of Kept pieces adjacent in one source made one (copied in one piece)."""
    out = []
    for piece in pieces:
        last = out[-1] if out else None
        if isinstance(piece, Kept) and isinstance(last, Kept) and last.source is piece.source and last.end == piece.start:
            out[-1] = Kept(last.start, piece.end, piece.source)
        else:
            out.append(piece)
    return out


@dataclass(frozen=True)
class Layout:
    """Where `pieces` land: each piece's first row, its sentence spans (row, start, end), and each
    row of the index spliced from (`spliced`) its new row (-1: gone)."""

    starts: np.ndarray
    spans: list
    old_to_new: np.ndarray | None
    fresh_passages: int  # the passages not kept (read by this build)
    fresh_sentences: int  # and their sentences

    @classmethod
    def of(cls, pieces: list, spliced: Index | None) -> "Layout":
        starts = np.cumsum([0] + [run_size(p) for p in pieces])
        spans, old_to_new = _spans(pieces, starts, spliced)
        fresh = [(len(p.passages), len(s)) for p, s in zip(pieces, spans) if isinstance(p, Fresh)]
        return cls(starts, spans, old_to_new, sum(n for n, _ in fresh), sum(n for _, n in fresh))


def write_segment(pieces: list, layout: Layout, folder: Path, vectors: Vectors, spliced: Index | None,
                  analyzer=None):
    """The passages, vectors, sentences and BM25 postings of `pieces` (in row order) into `folder`;
    the postings of rows kept from `spliced` are spliced from its, any other kept rows' analyzed again
    (by `analyzer`: a delta's is its base's; none, a new index's, lexical.default_analyzer).
    Returns the passages' FAISS index (written too)."""
    import faiss

    from ..lexical import write_bm25

    folder.mkdir(exist_ok=True)
    starts, spans, old_to_new = layout.starts, layout.spans, layout.old_to_new
    dense = write_passages(pieces, folder, vectors)
    write_sentences(pieces, starts, spans, folder, vectors, dense.d)
    analyzed = [(p, s) for p, s in zip(pieces, starts) if not (isinstance(p, Kept) and p.source is spliced)]
    write_bm25(folder / BM25, int(starts[-1]), [r for p, s in analyzed for r in range(s, s + run_size(p))],
               [q.lexical_text() for p, _ in analyzed for q in _passages_of(p)],
               spliced.bm25 if len(analyzed) < len(pieces) else None, old_to_new, analyzer)
    faiss.write_index(dense, str(folder / DENSE))
    np.save(folder / SENTENCE_SPANS, np.concatenate(spans) if spans else np.zeros((0, 3), np.int64), allow_pickle=False)
    return dense


def _passages_of(piece) -> list[Passage]:
    return piece.source.passages[piece.start : piece.end] if isinstance(piece, Kept) else piece.passages


def _spans(pieces: list, starts: np.ndarray, spliced: Index | None) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Each piece's sentence spans (new row, start, end), and each row of `spliced`'s new row (-1: gone)."""
    out, old_to_new = [], None
    if spliced is not None:
        old_to_new = np.full(len(spliced.passages), -1, dtype=np.int64)
    for piece, start in zip(pieces, starts):
        if isinstance(piece, Kept):
            span_rows = np.asarray(piece.source.sentence_spans[:, 0])
            lo, hi = np.searchsorted(span_rows, [piece.start, piece.end])
            part = np.array(piece.source.sentence_spans[lo:hi], dtype=np.int64).reshape(-1, 3)
            part[:, 0] += start - piece.start
            if piece.source is spliced:
                old_to_new[piece.start : piece.end] = np.arange(start, start + piece.end - piece.start)
        else:
            part = np.array([(start + row, a, b) for row, p in enumerate(piece.passages) for a, b in sentence_spans(p)],
                            dtype=np.int64).reshape(-1, 3)
        out.append(part)
    return out, old_to_new


def write_passages(pieces: list, staging: Path, vectors: Vectors):
    """passages.jsonl, its offsets, ids and text keys into `staging`; the passages' FAISS index."""
    import faiss

    total = sum(run_size(p) for p in pieces)
    dense = faiss.IndexFlatIP(vectors.dimension)
    dense.codes.resize(total * vectors.dimension * 4)  # filled in place: no second copy of the vectors
    dense.ntotal = total
    passage_vectors = faiss.rev_swig_ptr(dense.get_xb(), total * vectors.dimension).reshape(total, -1) \
        if total else np.zeros((0, vectors.dimension), dtype=np.float32)
    keys = np.empty((total, KEY_BYTES), dtype=np.uint8)
    at = 0
    vectors.begin("passages")
    with PassageWriter(staging, PASSAGES) as writer:
        for piece in pieces:
            if isinstance(piece, Kept):
                old = piece.source
                old_keys = np.load(old.path / TEXT_KEYS, mmap_mode="r")
                old_rows = old.row_files()[0]
                writer.copy(old.passages, piece.start, piece.end)
                if old_rows is not None and old_rows.shape[1] == vectors.dimension:  # read, not faulted in
                    old_rows.read_into(piece.start, passage_vectors[at : at + run_size(piece)])
                else:
                    passage_vectors[at : at + run_size(piece)] = old.vectors()[piece.start : piece.end]
                keys[at : at + run_size(piece)] = old_keys[piece.start : piece.end]
                at += run_size(piece)
                continue
            writer.add(piece.passages)
            for start in range(0, len(piece.passages), vectors.chunk):
                texts = [p.embedding_text() for p in piece.passages[start : start + vectors.chunk]]
                passage_vectors[at : at + len(texts)], keys[at : at + len(texts)] = vectors.of(texts)
                at += len(texts)
    np.save(staging / TEXT_KEYS, keys, allow_pickle=False)
    return dense


def write_sentences(pieces: list, starts: np.ndarray, spans: list[np.ndarray], staging: Path,
                    vectors: Vectors, dimension: int) -> None:
    """The sentence vectors (memory-mapped, straight to disk) and their text keys into `staging`."""
    total = sum(len(s) for s in spans)
    vectors.begin("sentences")
    if total == 0:  # numpy cannot map an empty matrix (an update's delta may hold no passage)
        np.save(staging / SENTENCE_VECTORS, np.zeros((0, dimension), dtype=SENTENCE_DTYPE), allow_pickle=False)
        np.save(staging / SENTENCE_KEYS, np.zeros((0, KEY_BYTES), dtype=np.uint8), allow_pickle=False)
        return
    out = np.lib.format.open_memmap(staging / SENTENCE_VECTORS, mode="w+", dtype=SENTENCE_DTYPE, shape=(total, dimension))
    keys = np.empty((total, KEY_BYTES), dtype=np.uint8)
    row_bytes = dimension * np.dtype(SENTENCE_DTYPE).itemsize
    target = os.open(staging / SENTENCE_VECTORS, os.O_RDWR)  # kept rows land here, copied by the kernel
    at = 0
    try:
        for piece, first, part in zip(pieces, starts, spans):
            if isinstance(piece, Kept):
                old = piece.source
                old_keys = np.load(old.path / SENTENCE_KEYS, mmap_mode="r")
                old_rows = old.row_files()[1]
                lo = int(np.searchsorted(np.asarray(old.sentence_spans[:, 0]), piece.start))
                if old_rows.dtype == SENTENCE_DTYPE and old_rows.shape[1] == dimension:
                    old_rows.copy_to(target, out.offset + at * row_bytes, lo, lo + len(part))
                else:
                    out[at : at + len(part)] = old.sentence_vectors[lo : lo + len(part)]
                keys[at : at + len(part)] = old_keys[lo : lo + len(part)]
            else:
                local = part - np.array([first, 0, 0])  # rows of the piece's own passages
                for start in range(0, len(local), vectors.chunk):
                    texts = sentence_texts(piece.passages, local[start : start + vectors.chunk])
                    out[at + start : at + start + len(texts)], keys[at + start : at + start + len(texts)] = \
                        vectors.of(texts)
            at += len(part)
    finally:
        os.close(target)
    out.flush()
    np.save(staging / SENTENCE_KEYS, keys, allow_pickle=False)
