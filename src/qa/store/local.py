"""The local store: an index folder (FAISS vectors, BM25 arrays, passages) searched in this process."""

from __future__ import annotations

import numpy as np

from .base import Candidates
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
        vectors = index.vectors()
        if self.count <= EXACT_UP_TO:
            return Candidates(index.passages, np.arange(self.count), query_vectors @ vectors.T,
                              index.bm25.score(questions), None, vectors, self._sentence_vectors(),
                              index.sentence_spans)
        lexical = [index.bm25.sparse(q) for q in questions]
        chosen = [np.union1d(_top(vectors @ vector, depth), rows[_top(scores, depth)])
                  for vector, (rows, scores) in zip(query_vectors, lexical)]
        keys = np.unique(np.concatenate(chosen))
        member = np.stack([np.isin(keys, rows, assume_unique=True) for rows in chosen])
        lexical_scores = np.zeros((len(questions), len(keys)), dtype=np.float32)
        for q, (rows, scores) in enumerate(lexical):
            found = np.isin(keys, rows, assume_unique=True)
            lexical_scores[q, found] = scores[np.searchsorted(rows, keys[found])]
        candidate_vectors = np.asarray(vectors[keys])
        sentence_rows, sentence_spans = _sentences_of(index.sentence_spans, keys)
        return Candidates(index.passages.rows(keys), keys, query_vectors @ candidate_vectors.T,
                          lexical_scores, member, candidate_vectors,
                          np.asarray(index.sentence_vectors[sentence_rows], dtype=np.float32), sentence_spans)

    def _sentence_vectors(self) -> np.ndarray:
        """Every sentence vector as float32, kept (an index small enough to score whole: at most
        ~110 MB); the file keeps them as float16, which numpy multiplies slowly."""
        if "_sentence_vectors" not in self.index.extras:
            self.index.extras["_sentence_vectors"] = np.asarray(self.index.sentence_vectors, dtype=np.float32)
        return self.index.extras["_sentence_vectors"]

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
    passage_of = spans[:, 0]
    lo, hi = np.searchsorted(passage_of, keys, "left"), np.searchsorted(passage_of, keys, "right")
    counts = hi - lo
    firsts = np.cumsum(counts) - counts
    rows = np.arange(counts.sum()) - np.repeat(firsts, counts) + np.repeat(lo, counts)
    out = np.array(spans[rows], dtype=np.int64).reshape(-1, 3)
    out[:, 0] = np.repeat(np.arange(len(keys)), counts)
    return rows, out
