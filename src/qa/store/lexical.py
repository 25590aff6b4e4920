"""Lexical: BM25 over passages, saved as postings (term → passages, term frequencies) and weighed at query time.

Written here rather than with bm25s: bm25s saves weights that depend on the whole corpus, so one
changed file would mean analyzing and weighing every passage again, and importing it (numba,
scipy) costs ~0.9 s of the 1 s cold start of `qa ask`. The weights are bm25s's (Lucene variant,
k1 1.5, b 0.75), and a test checks them against bm25s.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np

TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern
TOKENIZER_FILE = "tokenizer.json"
LAYOUT = "postings-1"  # a new layout or analysis (tokens, stopwords, stemmer) must change this
K1, B = 1.5, 0.75  # bm25s's defaults
STARTS, ROWS, FREQUENCIES, LENGTHS = "term_starts.npy", "rows.npy", "term_frequencies.npy", "lengths.npy"
VOCAB, PARAMS = "vocab.json", "params.json"


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


def write_bm25(folder: Path, num_docs: int, rows, texts, old: "BM25Scores | None" = None,
               old_to_new: np.ndarray | None = None, analyzer: Analyzer | None = None) -> None:
    """Save the BM25 postings of a corpus of `num_docs` passages to `folder`: the analyzed `texts` at
    `rows`, and, for an update, the postings of `old` whose passages stay, moved to their new rows
    (`old_to_new`: each old row's new row, or -1 for a passage that is gone).

    The postings keep raw term frequencies and passage lengths, and weights are computed at query
    time: an update then splices postings (no passage is analyzed again) where bm25s, whose saved
    weights depend on the whole corpus's statistics, would analyze and weigh every passage again.
    The weights are bm25s's (Lucene variant, its defaults; tested against it).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    analyzer = old.analyzer if old is not None else analyzer or default_analyzer()
    vocab = dict(old.vocab) if old is not None else {}
    lengths = np.zeros(num_docs, dtype=np.int32)
    new_terms, new_rows, new_tf = [], [], []
    for row, text in zip(rows, texts):
        counts = Counter(analyzer(text))
        lengths[row] = max(sum(counts.values()), 1)  # bm25s counts an empty passage as one placeholder token
        for term, tf in counts.items():
            new_terms.append(vocab.setdefault(term, len(vocab)))
            new_rows.append(row)
            new_tf.append(tf)
    terms = np.asarray(new_terms, dtype=np.int64)
    order = np.lexsort((np.asarray(new_rows, dtype=np.int64), terms))  # postings ordered by (term, row)
    terms, rows_out = terms[order], np.asarray(new_rows, dtype=np.int32)[order]
    tf = np.asarray(new_tf, dtype=np.int32)[order]
    frequencies = np.bincount(terms, minlength=len(vocab))
    if old is not None:  # the kept postings stay in order (rows move in order): the new go in between
        moved = old_to_new[np.asarray(old.rows)]
        kept = moved >= 0
        kept_per_term = _per_term(kept, np.asarray(old.starts))
        before = np.concatenate([[0], np.cumsum(kept_per_term)])  # kept postings before each term's
        kept_rows = moved[kept].astype(np.int32)
        # each new posting's place: after its term's kept postings of lower rows (few: one loop)
        known = len(old.vocab)  # a term new to the corpus goes after every kept posting
        at = np.array([before[t] + np.searchsorted(kept_rows[before[t] : before[t + 1]], r) if t < known
                       else len(kept_rows) for t, r in zip(terms.tolist(), rows_out.tolist())], dtype=np.int64)
        rows_out = np.insert(kept_rows, at, rows_out)
        tf = np.insert(np.asarray(old.tf)[kept], at, tf)
        frequencies[: len(kept_per_term)] += kept_per_term
        stays = old_to_new >= 0
        lengths[old_to_new[stays]] = np.asarray(old.lengths)[stays]
    used = frequencies > 0  # a term whose passages are all gone leaves the vocabulary, as in a rebuild
    words = list(itertools.compress(list(vocab), used))  # a dict keeps insertion order: the terms' ids
    starts = np.concatenate([[0], np.cumsum(frequencies[used])]).astype(np.int64)
    np.save(folder / STARTS, starts, allow_pickle=False)
    np.save(folder / ROWS, rows_out, allow_pickle=False)
    np.save(folder / FREQUENCIES, tf.astype(np.int32), allow_pickle=False)
    np.save(folder / LENGTHS, lengths, allow_pickle=False)
    (folder / VOCAB).write_text(json.dumps(words, ensure_ascii=False), encoding="utf-8")
    (folder / PARAMS).write_text(json.dumps({"layout": LAYOUT, "k1": K1, "b": B, "num_docs": num_docs}),
                                 encoding="utf-8")
    (folder / TOKENIZER_FILE).write_text(json.dumps(analyzer.config()), encoding="utf-8")


def _per_term(kept: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """How many postings of each term are kept (`kept`: a flag per posting; `starts`: each term's
    first posting, and the end). reduceat, not a cumsum over the postings: numpy's cumsum of 4M
    flags took 0.22 s here, reduceat 0.01 s."""
    counts = np.diff(starts)
    out = np.zeros(len(counts), dtype=np.int64)
    filled = counts > 0  # reduceat would give an empty term the next posting's flag
    if filled.any():
        out[filled] = np.add.reduceat(kept, starts[:-1][filled], dtype=np.int64)
    return out


def summed(postings: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Each term's (rows, weights), in the question's order of terms, summed by row: the rows holding
    any (ascending) and their scores (a row's weights added in the terms' order, as bm25s adds them)."""
    if not postings:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    rows = np.concatenate([rows for rows, _ in postings])
    weights = np.concatenate([weights for _, weights in postings]).astype(np.float64)
    found, position = np.unique(rows, return_inverse=True)
    return found.astype(np.int64), np.bincount(position, weights=weights).astype(np.float32)


class BM25Scores:
    """Saved BM25 postings, loaded as plain arrays (optionally memory-mapped)."""

    def __init__(self, folder: Path, mmap: bool = False) -> None:
        folder = Path(folder)
        mode = "r" if mmap else None
        params = json.loads((folder / PARAMS).read_text(encoding="utf-8"))
        if params.get("layout") != LAYOUT:
            raise ValueError(f"BM25 layout {params.get('layout')!r}, not {LAYOUT!r}")
        self.starts = np.load(folder / STARTS, mmap_mode=mode, allow_pickle=False)
        self.rows = np.load(folder / ROWS, mmap_mode=mode, allow_pickle=False)
        self.tf = np.load(folder / FREQUENCIES, mmap_mode=mode, allow_pickle=False)
        self.lengths = np.load(folder / LENGTHS, mmap_mode=mode, allow_pickle=False)
        words = json.loads((folder / VOCAB).read_text(encoding="utf-8"))
        self.vocab = {word: i for i, word in enumerate(words)}
        self.num_docs = int(params["num_docs"])
        self.k1, self.b = float(params["k1"]), float(params["b"])
        if not (len(self.starts) == len(words) + 1 and len(self.rows) == len(self.tf) == int(self.starts[-1])
                and len(self.lengths) == self.num_docs):
            raise ValueError("BM25 arrays do not match")
        self.avgdl = float(np.mean(self.lengths, dtype=np.float64)) if self.num_docs else 1.0
        config = json.loads((folder / TOKENIZER_FILE).read_text(encoding="utf-8"))
        self.analyzer = Analyzer(config["stopwords"], config["stemmer"])
        # answerability folds every word of a question's best passages, often the same passages for
        # abstention and ranking: each word is folded once per loaded index
        self.stem = functools.lru_cache(maxsize=1 << 16)(self.analyzer.fold)

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """The passages holding term number `term` (rows, ascending) and its BM25 weight in each."""
        return self.weighed(term, int(self.starts[term + 1] - self.starts[term]), self.num_docs, self.avgdl)

    def weighed(self, term: int, df: int, num_docs: int, avgdl: float) -> tuple[np.ndarray, np.ndarray]:
        """`postings`, weighed with the statistics of a corpus this index is part of (its delta's:
        store/local/delta.py): `df` passages of `num_docs` hold the term, `avgdl` their mean length."""
        lo, hi = int(self.starts[term]), int(self.starts[term + 1])
        rows = np.asarray(self.rows[lo:hi], dtype=np.int64)
        tf = np.asarray(self.tf[lo:hi], dtype=np.float64)
        idf = math.log(1 + (num_docs - df + 0.5) / (df + 0.5))
        norm = self.k1 * ((1 - self.b) + self.b * self.lengths[rows] / avgdl)
        return rows, (idf * tf / (norm + tf)).astype(np.float32)  # bm25s keeps float32 weights

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
        return summed([self.postings(self.vocab[w]) for w in self.terms(question)])

    def score(self, questions: list[str]) -> np.ndarray:
        """A (questions × passages) matrix of BM25 scores (for an index small enough to score whole)."""
        out = np.zeros((len(questions), self.num_docs), dtype=np.float32)
        for row, question in enumerate(questions):
            found, scores = self.sparse(question)
            out[row, found] = scores
        return out
