"""The row files of a build: passages, their vectors and sentences, each row copied from the old index or made anew.

An update's rows come in runs (`Kept`: rows of the index being replaced, copied as they are by
the kernel; `Fresh`: passages read by this build, embedded unless a known vector is found for
their text), written in the order a full build writes them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..ingest.passages import Passage
from .index import PASSAGES, SENTENCE_DTYPE, SENTENCE_KEYS, SENTENCE_VECTORS, TEXT_KEYS, Index
from .passage_table import PassageWriter
from .vector_reuse import KEY_BYTES, KnownVectors, PartialVectors, sentence_texts, text_keys

EMBED_CHUNK = 2048  # texts tokenized and embedded at a time: memory is bounded by this, not by the corpus


@dataclass(frozen=True)
class Kept:
    """Rows `start` to `end` (exclusive) of the index being replaced: unchanged documents, one after
    another there as here."""

    start: int
    end: int


@dataclass(frozen=True)
class Fresh:
    """Passages read and split by this build."""

    passages: list[Passage]


def run_size(piece) -> int:
    return piece.end - piece.start if isinstance(piece, Kept) else len(piece.passages)


class Vectors:
    """Vectors for texts: known ones taken, new ones embedded (and kept in `partial` at once)."""

    def __init__(self, embedder, known: KnownVectors, partial: PartialVectors, step) -> None:
        # an embedder may have a faster way for many texts (OnnxEmbedder: OpenVINO); questions never use it
        self._encode = getattr(embedder, "encode_passages", embedder.encode)
        self.dimension = embedder.dimension
        self._known, self._partial, self._step = known, partial, step
        self.embedded = self.reused = 0
        self.seconds = 0.0  # spent embedding (a lazy model's loading included): what an update adds to copying

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


def write_passages(pieces: list, old: Index | None, staging: Path, vectors: Vectors):
    """passages.jsonl, its offsets, ids and text keys into `staging`; the passages' FAISS index."""
    import faiss

    total = sum(run_size(p) for p in pieces)
    dense = faiss.IndexFlatIP(vectors.dimension)
    dense.codes.resize(total * vectors.dimension * 4)  # filled in place: no second copy of the vectors
    dense.ntotal = total
    passage_vectors = faiss.rev_swig_ptr(dense.get_xb(), total * vectors.dimension).reshape(total, -1)
    keys = np.empty((total, KEY_BYTES), dtype=np.uint8)
    old_keys = np.load(old.path / TEXT_KEYS, mmap_mode="r") if old is not None else None
    old_rows = old.row_files()[0] if old is not None else None
    at = 0
    with PassageWriter(staging, PASSAGES) as writer:
        for piece in pieces:
            if isinstance(piece, Kept):
                writer.copy(old.passages, piece.start, piece.end)
                if old_rows is not None and old_rows.shape[1] == vectors.dimension:  # read, not faulted in
                    old_rows.read_into(piece.start, passage_vectors[at : at + run_size(piece)])
                else:
                    passage_vectors[at : at + run_size(piece)] = old.vectors()[piece.start : piece.end]
                keys[at : at + run_size(piece)] = old_keys[piece.start : piece.end]
                at += run_size(piece)
                continue
            writer.add(piece.passages)
            for start in range(0, len(piece.passages), EMBED_CHUNK):
                texts = [p.embedding_text() for p in piece.passages[start : start + EMBED_CHUNK]]
                passage_vectors[at : at + len(texts)], keys[at : at + len(texts)] = vectors.of(texts)
                at += len(texts)
    np.save(staging / TEXT_KEYS, keys, allow_pickle=False)
    return dense


def write_sentences(pieces: list, starts: np.ndarray, spans: list[np.ndarray], old: Index | None, staging: Path,
                     vectors: Vectors, dimension: int) -> None:
    """The sentence vectors (memory-mapped, straight to disk) and their text keys into `staging`."""
    total = sum(len(s) for s in spans)
    out = np.lib.format.open_memmap(staging / SENTENCE_VECTORS, mode="w+", dtype=SENTENCE_DTYPE, shape=(total, dimension))
    keys = np.empty((total, KEY_BYTES), dtype=np.uint8)
    old_keys = np.load(old.path / SENTENCE_KEYS, mmap_mode="r") if old is not None else None
    old_rows = old.row_files()[1] if old is not None else None
    row_bytes = dimension * np.dtype(SENTENCE_DTYPE).itemsize
    target = os.open(staging / SENTENCE_VECTORS, os.O_RDWR)  # kept rows land here, copied by the kernel
    at = 0
    try:
        for piece, first, part in zip(pieces, starts, spans):
            if isinstance(piece, Kept):
                lo = int(np.searchsorted(np.asarray(old.sentence_spans[:, 0]), piece.start))
                if old_rows.dtype == SENTENCE_DTYPE and old_rows.shape[1] == dimension:
                    old_rows.copy_to(target, out.offset + at * row_bytes, lo, lo + len(part))
                else:
                    out[at : at + len(part)] = old.sentence_vectors[lo : lo + len(part)]
                keys[at : at + len(part)] = old_keys[lo : lo + len(part)]
            else:
                local = part - np.array([first, 0, 0])  # rows of the piece's own passages
                for start in range(0, len(local), EMBED_CHUNK):
                    texts = sentence_texts(piece.passages, local[start : start + EMBED_CHUNK])
                    out[at + start : at + start + len(texts)], keys[at + start : at + start + len(texts)] = \
                        vectors.of(texts)
            at += len(part)
    finally:
        os.close(target)
    out.flush()
    np.save(staging / SENTENCE_KEYS, keys, allow_pickle=False)
