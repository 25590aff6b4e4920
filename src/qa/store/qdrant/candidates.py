"""A Qdrant store's candidates: scores from the engine, vectors fetched only for the rows the retriever reads.

Handing a question's ~2,000 candidates to Python with their ~9,000 passage and sentence vectors cost
~0.4 s at 10,000 passages (qdrant-edge-py builds a Python float for each coordinate), far more than
the engine's searches. So the candidates come with their payloads only; their cosines and BM25
scores are second queries filtered to their ids, and the hybrid's second pass (each candidate's
cosine and best-sentence cosine to the moved question vector) is two more: a `passage` query and a
`sentences` MAX_SIM query, filtered alike (`Scorer`). The vectors of the few candidates the
retriever reads (its feedback passages, the hits' sentences for highlights) are fetched when first
indexed. When every passage is a candidate (a small collection) every vector is fetched, and the
retriever computes everything itself, as over the local store.
"""

from __future__ import annotations

import uuid

import numpy as np

from ...errors import QAError
from ..base import Candidates
from .layout import BM25, PASSAGE, SENTENCES, payload_passage


def search(store, questions: list[str], query_vectors: np.ndarray, depth: int) -> Candidates:
    """Each question's `depth` best by the `passage` vector and `depth` best by `bm25`, every candidate
    scored for every question by both (0 BM25 for a passage without the question's terms)."""
    engine, collection = store.engine, store.collection
    query_vectors = np.asarray(query_vectors, dtype=np.float32)
    dense_queries = [v.tolist() for v in query_vectors]
    sparse = [store.bm25.question(q) for q in questions]
    asked = [q for q, (indices, _) in enumerate(sparse) if indices]
    dense_hits = engine.search(collection, PASSAGE, dense_queries, depth)
    lexical_hits = dict(zip(asked, engine.search(collection, BM25, [sparse[q] for q in asked], depth)))
    found = [{pid for pid, _ in dense_hits[q]} | {pid for pid, _ in lexical_hits.get(q, ())}
             for q in range(len(questions))]
    records = engine.retrieve(collection, sorted(set().union(*found)), payload=True)
    records.sort(key=lambda r: (r[2]["doc"], r[2]["ordinal"]))  # corpus order, as the local store's rows
    ids = [pid for pid, _, _ in records]
    column = {pid: i for i, pid in enumerate(ids)}
    dense, lexical = (np.zeros((len(questions), len(ids)), dtype=np.float32) for _ in range(2))
    if ids:
        _scatter(dense, range(len(questions)), engine.search(collection, PASSAGE, dense_queries, len(ids), ids=ids),
                 column)
        _scatter(lexical, asked, engine.search(collection, BM25, [sparse[q] for q in asked], len(ids), ids=ids),
                 column)
    member = np.zeros((len(questions), len(ids)), dtype=bool)
    for q, pids in enumerate(found):
        member[q, [column[p] for p in pids]] = True
    if member.all() and len(ids) == store.count:
        member = None  # every passage is every question's candidate: an exact search, as the local store's
    spans = np.array([(i, a, b) for i, r in enumerate(records) for a, b in r[2]["sentences"]],
                     dtype=np.int64).reshape(-1, 3)
    fetched = _Fetched(store, ids, records, spans)
    vectors, sentence_vectors = _Rows(fetched, "passage"), _Rows(fetched, "sentence")
    if member is None:
        vectors, sentence_vectors = np.asarray(vectors), np.asarray(sentence_vectors)
    return Candidates(passages=[payload_passage(r[2]) for r in records],
                      keys=np.array([uuid.UUID(pid).int >> 65 for pid in ids], dtype=np.int64),
                      dense=dense, lexical=lexical, member=member, vectors=vectors,
                      sentence_vectors=sentence_vectors, sentence_spans=spans,
                      scorer=None if member is None else _EngineScorer(engine, collection, ids))


def _scatter(into: np.ndarray, questions, answers: list[list], column: dict[str, int]) -> None:
    for q, hits in zip(questions, answers):
        for pid, score in hits:
            into[q, column[pid]] = score


class _EngineScorer:
    """The hybrid's second pass over candidates, computed by the engine where their vectors are."""

    def __init__(self, engine, collection: str, ids: list[str]) -> None:
        self.engine, self.collection, self.ids = engine, collection, ids

    def _scores(self, using: str, query: list, rows: np.ndarray, missing: float) -> np.ndarray:
        wanted = [self.ids[r] for r in rows.tolist()]
        at = {pid: i for i, pid in enumerate(wanted)}
        out = np.full(len(wanted), missing, dtype=np.float32)
        for pid, score in self.engine.search(self.collection, using, [query], len(wanted), ids=wanted)[0]:
            out[at[pid]] = score
        return out

    def cosines(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self._scores(PASSAGE, np.asarray(vector, dtype=np.float32).tolist(), rows, np.nan)

    def best_sentences(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """MAX_SIM of the one-vector query: the best sentence's cosine (-1: a passage without sentences)."""
        return self._scores(SENTENCES, [np.asarray(vector, dtype=np.float32).tolist()], rows, -1.0)


class _Fetched:
    """The candidates' passage and sentence vectors, fetched from the engine a candidate at a time, once."""

    def __init__(self, store, ids: list[str], records: list, spans: np.ndarray) -> None:
        self.store, self.ids, self.spans = store, ids, spans
        dimension = int(store.manifest["dimension"])
        self.counts = np.array([len(r[2]["sentences"]) for r in records], dtype=np.int64)
        self.firsts = np.cumsum(self.counts) - self.counts
        self.done = np.zeros(len(ids), dtype=bool)
        self.passage = np.zeros((len(ids), dimension), dtype=np.float32)
        self.sentence = np.zeros((len(spans), dimension), dtype=np.float32)

    def need(self, rows: np.ndarray) -> None:
        missing = np.unique(rows)
        missing = missing[~self.done[missing]]
        if not len(missing):
            return
        row_of = {self.ids[r]: r for r in missing.tolist()}
        for pid, named, _ in self.store.engine.retrieve(self.store.collection, list(row_of), payload=False,
                                                        vectors=[PASSAGE, SENTENCES]):
            row = row_of[pid]
            multi = named.get(SENTENCES) or []
            if len(multi) != self.counts[row]:
                store = self.store
                raise QAError(f"collection {store.collection} at {store.engine.where} is damaged (point {pid} has "
                              f"{len(multi)} sentence vectors for {self.counts[row]} sentences): run `qa index "
                              f"--store qdrant --qdrant-url {store.engine.where} --collection {store.collection} "
                              f"--full`", status=503)
            self.passage[row] = named[PASSAGE]
            if len(multi):
                self.sentence[self.firsts[row] : self.firsts[row] + len(multi)] = multi
        self.done[missing] = True


class _Rows:
    """Candidates' passage vectors (`kind` "passage") or sentence vectors ("sentence") as an array whose
    rows are fetched when indexed: `[rows]`, `[lo:hi]`, a boolean mask; `np.asarray(...)` fetches all."""

    def __init__(self, fetched: _Fetched, kind: str) -> None:
        self.fetched, self.kind = fetched, kind
        self.array = fetched.passage if kind == "passage" else fetched.sentence

    @property
    def shape(self) -> tuple[int, int]:
        return self.array.shape

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, key):
        rows = np.arange(len(self.array))[key]
        self.fetched.need(np.atleast_1d(rows) if self.kind == "passage" else self.fetched.spans[np.atleast_1d(rows), 0])
        return self.array[rows]

    def __array__(self, dtype=None, copy=None):
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)
