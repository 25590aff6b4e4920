"""The local store: an index folder (FAISS vectors, BM25 arrays, passages) searched in this process."""

from __future__ import annotations

import numpy as np

from .base import Candidates, sentences_of
from .index import Index

# Up to this many passages every passage is every question's candidate: scoring them all costs a
# few milliseconds and keeps the figures of eval/README.md exactly. Above it each question's
# candidates are its `depth` best by cosine and its `depth` best by BM25.
EXACT_UP_TO = 20_000


class LocalStore:
    """An index folder loaded in memory (or memory-mapped): the default store, and the embedded one."""

    def __init__(self, index: Index) -> None:
        self.index = index

    @property
    def model(self) -> str:
        return self.index.model

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
        lexical = [index.bm25.sparse(q) for q in questions]
        chosen = [np.union1d(dense_rows, rows[_top(scores, depth)])
                  for dense_rows, (rows, scores) in zip(self._dense_top(query_vectors, depth), lexical)]
        keys = np.unique(np.concatenate(chosen))
        member = np.stack([np.isin(keys, rows, assume_unique=True) for rows in chosen])
        lexical_scores = np.zeros((len(questions), len(keys)), dtype=np.float32)
        for q, (rows, scores) in enumerate(lexical):
            found = np.isin(keys, rows, assume_unique=True)
            lexical_scores[q, found] = scores[np.searchsorted(rows, keys[found])]
        dense_rows, sentence_file = index.row_files()
        candidate_vectors = dense_rows.gather(keys) if dense_rows is not None else np.asarray(vectors[keys])
        sentence_rows, sentence_spans = _sentences_of(index.sentence_spans, keys)
        return Candidates(index.passages.rows(keys), keys, query_vectors @ candidate_vectors.T,
                          lexical_scores, member, candidate_vectors,
                          sentence_file.gather(sentence_rows).astype(np.float32), sentence_spans)

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

    def page_of(self, doc: str, offset: int) -> int | None:
        return self.index.page_of(doc, offset)

    def text(self, doc: str) -> str:
        return self.index.text(doc)

    def knows(self, word: str) -> bool:
        return self.index.bm25.knows(word)

    def stem(self, word: str) -> str:
        return self.index.bm25.stem(word)

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
