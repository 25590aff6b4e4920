"""Lexical: BM25 over passages, built and saved by bm25s, scored at query time from its saved arrays.

Building uses bm25s. Querying reads bm25s's saved CSC score matrix and sums the query terms'
columns with numpy: importing bm25s (which pulls numba and scipy) costs ~0.9 s, most of the
1 s cold-start budget of `qa ask`, for what is a dozen lines of arithmetic here.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np

TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern
TOKENIZER_FILE = "tokenizer.json"


class Analyzer:
    """Lowercase, split into words, drop stopwords, stem (English Snowball via PyStemmer): BM25's
    analysis, the local store's and the Qdrant store's sparse vectors' alike."""

    def __init__(self, stopwords: list[str], stemmer: str | None = "english") -> None:
        self.stopwords = frozenset(stopwords)
        self.stemmer_name = stemmer
        self._stemmer = None
        if stemmer:
            import Stemmer

            self._stemmer = Stemmer.Stemmer(stemmer)

    def __call__(self, text: str) -> list[str]:
        words = [w for w in TOKEN.findall(text.lower()) if w not in self.stopwords]
        return self._stemmer.stemWords(words) if self._stemmer else words

    def config(self) -> dict:
        return {"pattern": TOKEN.pattern, "stopwords": sorted(self.stopwords), "stemmer": self.stemmer_name}

    def fold(self, word: str) -> str:
        """`word` folded as the index folds it (lowercased and stemmed; a stopword is only lowercased)."""
        terms = self(word)
        return terms[0] if len(terms) == 1 else word.lower()


def default_analyzer() -> Analyzer:
    """The analyzer a new index is built with: bm25s's English stopwords, the English stemmer."""
    from bm25s.stopwords import STOPWORDS_EN

    return Analyzer(list(STOPWORDS_EN))


def write_bm25(texts: list[str], folder: Path) -> None:
    """Build a BM25 (Lucene variant, bm25s defaults) index of `texts` and save it to `folder`."""
    import bm25s

    analyzer = default_analyzer()
    model = bm25s.BM25()
    # a passage with no indexable word still needs a row: give it a token no query produces
    model.index([analyzer(t) or ["\x00"] for t in texts], show_progress=False)
    model.save(str(folder))
    (Path(folder) / TOKENIZER_FILE).write_text(json.dumps(analyzer.config()), encoding="utf-8")


class BM25Scores:
    """A saved BM25 index, loaded as plain arrays (optionally memory-mapped)."""

    def __init__(self, folder: Path, mmap: bool = False) -> None:
        folder = Path(folder)
        mode = "r" if mmap else None
        self.data = np.load(folder / "data.csc.index.npy", mmap_mode=mode, allow_pickle=False)
        self.indices = np.load(folder / "indices.csc.index.npy", mmap_mode=mode, allow_pickle=False)
        self.indptr = np.load(folder / "indptr.csc.index.npy", mmap_mode=mode, allow_pickle=False)
        self.vocab = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
        params = json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
        self.num_docs = int(params["num_docs"])
        config = json.loads((folder / TOKENIZER_FILE).read_text(encoding="utf-8"))
        self.analyzer = Analyzer(config["stopwords"], config["stemmer"])
        # answerability folds every word of a question's best passages, often the same passages for
        # abstention and ranking: each word is folded once per loaded index
        self.stem = functools.lru_cache(maxsize=1 << 16)(self.analyzer.fold)

    def terms(self, question: str) -> list[str]:
        """The question's analyzed terms that occur in the corpus."""
        return [t for t in self.analyzer(question) if t in self.vocab]

    def knows(self, word: str) -> bool:
        """True when the corpus uses `word` (after the same analysis); stopwords count as known."""
        terms = self.analyzer(word)
        return all(t in self.vocab for t in terms)

    def sparse(self, question: str) -> tuple[np.ndarray, np.ndarray]:
        """The passages holding any of the question's terms (rows, ascending) and their BM25 scores:
        work in proportion to the terms' postings, not to the corpus (no per-passage array)."""
        spans = [(int(self.indptr[t]), int(self.indptr[t + 1])) for t in (self.vocab[w] for w in self.terms(question))]
        if not spans:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        rows = np.concatenate([self.indices[lo:hi] for lo, hi in spans])
        weights = np.concatenate([self.data[lo:hi] for lo, hi in spans]).astype(np.float64)
        found, position = np.unique(rows, return_inverse=True)
        return found.astype(np.int64), np.bincount(position, weights=weights).astype(np.float32)

    def score(self, questions: list[str]) -> np.ndarray:
        """A (questions × passages) matrix of BM25 scores (for an index small enough to score whole)."""
        out = np.zeros((len(questions), self.num_docs), dtype=np.float32)
        for row, question in enumerate(questions):
            found, scores = self.sparse(question)
            out[row, found] = scores
        return out
