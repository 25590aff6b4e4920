"""The local store: an index folder (FAISS vectors, BM25 arrays, passages) searched in this process, with its delta if it has one."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import Candidates, sentences_of
from .index import Index

# Up to this many passages every passage is every question's candidate: scoring them all costs a
# few milliseconds and keeps the figures of eval/README.md exactly. Above it each question's
# candidates are its `depth` best by cosine and its `depth` best by BM25.
EXACT_UP_TO = 20_000


def local_store(index: Index):
    """The store of a loaded index folder: a LocalStore, or a DeltaStore for an index with a delta."""
    return DeltaStore(index) if index.delta is not None else LocalStore(index)


class LocalStore:
    """An index folder loaded in memory (or memory-mapped): the default store, and the embedded one."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.bm25 = index.bm25  # the corpus's BM25 (a DeltaStore's: over its base and delta)

    @property
    def model(self) -> str:
        return self.index.model

    def close(self) -> None:
        """Nothing to release: the index's files are memory-mapped and closed with it."""

    @property
    def count(self) -> int:
        return len(self.index.passages)

    def candidates(self, questions: list[str], query_vectors: np.ndarray, depth: int) -> Candidates:
        index = self.index
        vectors = self._vectors()
        if self.count <= EXACT_UP_TO:
            return Candidates(index.passages, np.arange(self.count), query_vectors @ vectors.T,
                              index.bm25.score(questions), None, vectors, self._sentence_vectors(),
                              index.sentence_spans)
        keys, member, lexical_scores = self._chosen(questions, query_vectors, depth)
        dense_rows, sentence_file = index.row_files()
        candidate_vectors = dense_rows.gather(keys) if dense_rows is not None else np.asarray(vectors[keys])
        sentence_rows, sentence_spans = _sentences_of(index.sentence_spans, keys)
        return Candidates(index.passages.rows(keys), keys, query_vectors @ candidate_vectors.T,
                          lexical_scores, member, candidate_vectors,
                          sentence_file.gather(sentence_rows).astype(np.float32), sentence_spans)

    def _chosen(self, questions: list[str], query_vectors: np.ndarray,
                depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The candidates' keys (ascending: each question's `depth` best by cosine and by BM25), which
        are each question's (questions × candidates), and their BM25 scores (0 where not found)."""
        lexical = [self.bm25.sparse(q) for q in questions]
        chosen = [np.union1d(dense_rows, rows[_top(scores, depth)])
                  for dense_rows, (rows, scores) in zip(self._dense_top(query_vectors, depth), lexical)]
        keys = np.unique(np.concatenate(chosen))
        member = np.stack([np.isin(keys, rows, assume_unique=True) for rows in chosen])
        lexical_scores = np.zeros((len(questions), len(keys)), dtype=np.float32)
        for q, (rows, scores) in enumerate(lexical):
            found = np.isin(keys, rows, assume_unique=True)
            lexical_scores[q, found] = scores[np.searchsorted(rows, keys[found])]
        return keys, member, lexical_scores

    def _dense_top(self, query_vectors: np.ndarray, depth: int) -> list[np.ndarray]:
        """Each question's `depth` nearest passages (rows, in no order): by the ANN index when the index
        has one (store/ann.py: recall@10 0.98 of exact), else by every passage's cosine."""
        if self.index.ann is not None:
            rows, _ = self.index.ann.search(query_vectors, depth)
            return [r[r >= 0] for r in rows]
        vectors = self._vectors()
        return [_top(vectors @ vector, depth) for vector in query_vectors]

    def _vectors(self) -> np.ndarray:
        """The passage vectors. FAISS maps its file where the vectors start at an offset that is not
        a multiple of 4 bytes, and numpy multiplies a misaligned float32 array without BLAS, 100×
        slower (15.6 against 0.13 ms for one question over 10,000 passages): an index searched
        whole (without an ANN index: under ANN_FROM passages, at most ~77 MB) keeps an aligned copy;
        an index with one only gathers its candidates' rows, which copies them aligned."""
        if "_aligned_vectors" not in self.index.extras:
            vectors = self.index.vectors()
            aligned = vectors.flags.aligned or self.index.ann is not None
            self.index.extras["_aligned_vectors"] = vectors if aligned else np.array(vectors)
        return self.index.extras["_aligned_vectors"]

    def _sentence_vectors(self) -> np.ndarray:
        """Every sentence vector as float32, kept (an index small enough to score whole: at most
        ~110 MB); the file keeps them as float16, which numpy multiplies slowly."""
        if "_sentence_vectors" not in self.index.extras:
            self.index.extras["_sentence_vectors"] = np.asarray(self.index.sentence_vectors, dtype=np.float32)
        return self.index.extras["_sentence_vectors"]

    def passages(self):
        return iter(self.index.passages)

    def passage(self, passage_id: str):
        row = self.index.row_of(passage_id)
        return None if row is None else self.index.passages[row]

    def neighbours(self, passage_id: str) -> tuple[str | None, str | None]:
        row = self.index.row_of(passage_id)
        if row is None:
            return None, None
        passages, doc = self.index.passages, self.index.passages[row].doc
        before = passages[row - 1].id if row > 0 and passages[row - 1].doc == doc else None
        after = passages[row + 1].id if row + 1 < len(passages) and passages[row + 1].doc == doc else None
        return before, after

    def pages_of(self, places) -> list[int | None]:
        return [self.index.page_of(doc, offset) for doc, offset in places]

    def text(self, doc: str) -> str:
        return self.index.text(doc)

    def knows(self, word: str) -> bool:
        return self.bm25.knows(word)

    def stem(self, word: str) -> str:
        return self.bm25.stem(word)

    def describe(self) -> dict:
        manifest = self.index.manifest
        return {"store": "local", "passage_count": self.count, "model": manifest["model"],
                "built_at": manifest.get("built_at")}


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest scores (in no particular order)."""
    if len(scores) <= k:
        return np.arange(len(scores))
    return np.argpartition(-scores, k - 1)[:k]


def _sentences_of(spans: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sentence rows of the passages `keys` (sorted), and their spans with the passage row
    replaced by its position in `keys`."""
    rows, counts = sentences_of(spans[:, 0], keys)
    out = np.array(spans[rows], dtype=np.int64).reshape(-1, 3)
    out[:, 0] = np.repeat(np.arange(len(keys)), counts)
    return rows, out


class DeltaStore(LocalStore):
    """An index folder with a delta, searched as the corpus a rebuild would index (see the module
    docstring). A store key is a passage's row in that rebuild."""

    def __init__(self, index) -> None:
        super().__init__(index)
        self.delta, self.bm25 = index.delta, index.delta.bm25
        self._delta_vectors = None

    @property
    def count(self) -> int:
        return len(self.delta.order)

    def _segment_row(self, key: int) -> tuple[object, int]:
        row = int(self.delta.order[key])
        base = self.delta.base_count
        return (self.index, row) if row < base else (self.delta.segment, row - base)

    def _passage(self, key: int):
        segment, row = self._segment_row(key)
        return segment.passages[row]

    def candidates(self, questions: list[str], query_vectors: np.ndarray, depth: int) -> Candidates:
        keys, member, lexical_scores = self._chosen(questions, query_vectors, depth)
        rows = self.delta.order[keys]
        in_base = rows < self.delta.base_count
        vectors = np.empty((len(keys), query_vectors.shape[1]), dtype=np.float32)
        sentence_parts = []
        for segment, mask, local in ((self.index, in_base, rows[in_base]),
                                     (self.delta.segment, ~in_base, rows[~in_base] - self.delta.base_count)):
            dense_rows, sentence_file = segment.row_files()
            vectors[mask] = dense_rows.gather(local) if dense_rows is not None else np.asarray(segment.vectors()[local])
            sentence_rows, counts = sentences_of(segment.sentence_spans[:, 0], local)
            spans = np.array(segment.sentence_spans[sentence_rows], dtype=np.int64).reshape(-1, 3)
            spans[:, 0] = np.repeat(np.flatnonzero(mask), counts)  # the candidate's place in `keys`
            sentence_parts.append((spans, sentence_file.gather(sentence_rows).astype(np.float32)))
        spans = np.concatenate([s for s, _ in sentence_parts])
        sentence_vectors = np.concatenate([v for _, v in sentence_parts])
        by_candidate = np.argsort(spans[:, 0], kind="stable")
        return Candidates(_Keyed(self, keys), keys, query_vectors @ vectors.T, lexical_scores, member, vectors,
                          sentence_vectors[by_candidate], spans[by_candidate])

    def _dense_top(self, query_vectors: np.ndarray, depth: int) -> list[np.ndarray]:
        """Each question's `depth` nearest live passages (rebuild rows, in no order): the base's by its
        ANN index (dead rows skipped) or by every base vector, and the delta's by every one of its vectors."""
        delta, base_count = self.delta, self.delta.base_count
        delta_scores = query_vectors @ self._vectors_of_delta().T
        delta_keys = delta.position[base_count:]
        if self.index.ann is not None:
            rows, scores = self.index.ann.search(query_vectors, depth, alive=delta.alive)
            out = []
            for q in range(len(query_vectors)):
                found = rows[q] >= 0
                keys = np.concatenate([delta.position[rows[q][found]], delta_keys])
                merged = np.concatenate([scores[q][found], delta_scores[q]])
                out.append(keys[_top(merged, depth)])
            return out
        base_scores = query_vectors @ np.asarray(self.index.vectors()).T
        live = np.flatnonzero(delta.alive)
        out = []
        for q in range(len(query_vectors)):
            scores = np.empty(self.count, dtype=np.float32)  # in a rebuild's order, as a rebuild scores them
            scores[delta.position[live]] = base_scores[q, live]
            scores[delta_keys] = delta_scores[q]
            out.append(_top(scores, depth))
        return out

    def _vectors_of_delta(self) -> np.ndarray:
        if self._delta_vectors is None:
            self._delta_vectors = np.array(self.delta.segment.vectors())  # aligned (see LocalStore._vectors)
        return self._delta_vectors

    def passages(self):
        return (self._passage(key) for key in range(self.count))

    def _key_of(self, passage_id: str) -> int | None:
        row = self.delta.segment.row_of(passage_id)
        if row is not None:
            return int(self.delta.position[self.delta.base_count + row])
        row = self.index.row_of(passage_id)
        return None if row is None or not self.delta.alive[row] else int(self.delta.position[row])

    def passage(self, passage_id: str):
        key = self._key_of(passage_id)
        return None if key is None else self._passage(key)

    def neighbours(self, passage_id: str) -> tuple[str | None, str | None]:
        key = self._key_of(passage_id)
        if key is None:
            return None, None
        doc = self._passage(key).doc
        before = self._passage(key - 1) if key > 0 else None
        after = self._passage(key + 1) if key + 1 < self.count else None
        return (before.id if before is not None and before.doc == doc else None,
                after.id if after is not None and after.doc == doc else None)


class _Keyed(Sequence):
    """The passages of some store keys, in the order given, parsed when asked for."""

    def __init__(self, store: DeltaStore, keys: np.ndarray) -> None:
        self._store, self._keys = store, keys

    def __len__(self) -> int:
        return len(self._keys)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._store._passage(k) for k in self._keys[i]]
        return self._store._passage(self._keys[i])
