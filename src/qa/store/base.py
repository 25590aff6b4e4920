"""The store interfaces: what the retriever asks of an index (`Store`), and what the corpus pipeline writes into (`Sink`).

A store only finds candidates and hands back their scores and vectors; every ranking rule (the
hybrid's fusion, feedback, sentence scores, answer-type bonus, diversification, abstention) is the
retriever's (search/), the same for every store. Two stores implement it: the local folder
(store/local.py: FAISS + BM25 files) and Qdrant (store/qdrant.py); their write sides are
store/build.py's FolderSink and store/qdrant_sync.py's CollectionSink. docs/stores.md: adding one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Protocol, Sequence

import numpy as np

from ..ingest.passages import Passage

if TYPE_CHECKING:
    from .corpus import CorpusScan


@dataclass(frozen=True)
class Candidates:
    """The passages a store offers one batch of questions, and each question's scores of them.

    Candidate `i` is `passages[i]`. For question `q`:
    - `dense[q, i]`: the cosine of the question's vector to passage `i`'s vector;
    - `lexical[q, i]`: the passage's BM25 score for the question (0 when it holds none of its terms);
    - `member[q, i]`: whether `i` is one of `q`'s candidates (its `depth` best by cosine or by BM25);
      None when every candidate is every question's (an exact search: every passage is a candidate).
    `vectors[i]` is passage `i`'s vector; `sentence_vectors[j]` is sentence `j`'s and
    `sentence_spans[j]` its (candidate index, start, end), sorted by candidate index, with start and
    end offsets into the passage's document as `Passage.start`/`end` are.
    `keys[i]` is the store's own key of candidate `i` (a row of the local store): the same passage has
    the same key while the store is open, so the retriever caches what it learns of a passage by it.
    A store may give `vectors` and `sentence_vectors` as objects that fetch only the rows indexed
    (`[rows]`, `[lo:hi]`, a boolean mask; `np.asarray` for all), and a `scorer` computing
    `cosines` and `best_sentences` where the vectors are (the Qdrant engine), so a question's second
    pass moves no vectors; without one both are computed here from the vectors.
    """

    passages: Sequence[Passage]
    keys: np.ndarray
    dense: np.ndarray  # float32, questions × candidates
    lexical: np.ndarray  # float32, questions × candidates
    member: np.ndarray | None  # bool, questions × candidates; None: all
    vectors: np.ndarray  # float32, candidates × dimension
    sentence_vectors: np.ndarray  # float32, sentences × dimension (float32 whatever the store keeps)
    sentence_spans: np.ndarray  # int64, sentences × 3
    scorer: "Scorer | None" = None

    @property
    def exact(self) -> bool:
        return self.member is None

    def cosines(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The cosine of (unit) `vector` to each candidate of `rows`."""
        if self.scorer is not None:
            return self.scorer.cosines(vector, rows)
        return np.asarray(self.vectors[rows]) @ vector

    def best_sentences(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each candidate of `rows` (sorted), the cosine of its sentence closest to `vector` (-1: none)."""
        if self.scorer is not None:
            return self.scorer.best_sentences(vector, rows)
        sentence_rows, counts = sentences_of(self.sentence_spans[:, 0], rows)
        out = np.full(len(rows), -1.0, dtype=np.float32)
        if counts.sum() == 0:
            return out
        similarities = np.asarray(self.sentence_vectors[sentence_rows]) @ vector
        some = counts > 0
        out[some] = np.maximum.reduceat(similarities, (np.cumsum(counts) - counts)[some])
        return out


class Scorer(Protocol):
    """Candidates' scores computed by the store, where their vectors are (see `Candidates`)."""

    def cosines(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray: ...

    def best_sentences(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray: ...


def sentences_of(passage_of: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For passages `rows` (ascending), the rows of their sentences, passage by passage, and how many
    each passage has; `passage_of` is each sentence's passage, ascending (as an index keeps its spans)."""
    lo, hi = np.searchsorted(passage_of, rows, "left"), np.searchsorted(passage_of, rows, "right")
    counts = hi - lo
    firsts = np.cumsum(counts) - counts
    return np.arange(counts.sum()) - np.repeat(firsts, counts) + np.repeat(lo, counts), counts


class Store(Protocol):
    """An index the retriever can search: passages with their vectors, sentence vectors and BM25 terms."""

    @property
    def model(self) -> str:
        """The embedding model the passages were embedded with (a question must be embedded the same)."""

    @property
    def count(self) -> int:
        """How many passages the store holds."""

    def candidates(self, questions: list[str], query_vectors: np.ndarray, depth: int) -> Candidates:
        """Each question's candidates: its `depth` best passages by cosine to its vector and its `depth`
        best by BM25 (a store may offer more, e.g. every passage when it is small enough to score all)."""

    def passages(self) -> Iterable[Passage]:
        """Every passage the store holds (for an evaluation: gold evidence is looked for in all of them)."""

    def passage(self, passage_id: str) -> Passage | None:
        """The passage with this id, or None."""

    def neighbours(self, passage_id: str) -> tuple[str | None, str | None]:
        """The ids of the passages before and after this one in its document (None at either end)."""

    def pages_of(self, places: Sequence[tuple[str, int]]) -> list[int | None]:
        """The 1-based page holding each (doc, offset), None for an unpaged document: from the page
        table the store keeps for each document, looked up for all at once (a remote store: one request)."""

    def text(self, doc: str) -> str:
        """The text `doc`'s passage offsets index (`qa text DOC`); QAError (404) for an unknown doc."""

    def knows(self, word: str) -> bool:
        """True when the corpus uses `word` (after BM25's analysis); stopwords count as known."""

    def stem(self, word: str) -> str:
        """`word` folded as BM25 folds it (lowercased and stemmed)."""

    def close(self) -> None:
        """Release what the store holds open (a connection, an embedded engine's folder lock)."""

    def describe(self) -> dict:
        """What `/health` shows of the store: `store` (its kind), `passage_count`, `model`, `built_at`."""


class Sink(Protocol):
    """A store's write side: the sink of the corpus pipeline (store/corpus.py's `index_into`), which
    reads only the files that differ from what the sink holds and hands it the scan."""

    def held(self) -> dict[str, dict]:
        """Each document the store holds whole → the record of the file it was made from: `sha256`,
        `passages` (its count), and `size` and `mtime_ns` when known (then an unchanged file is not even
        hashed)."""

    def write(self, scan: "CorpusScan"):
        """Make the store hold the scan's documents: keep what it holds of the `Unchanged` ones, embed
        and write the `Changed` ones, drop the documents the scan does not name."""
