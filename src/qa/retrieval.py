"""Retrieval: questions in, cited passages out; the one result type every front end serializes."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .embeddings import Embedder, load_embedder, resolve_model
from .errors import QAError
from .index import Index, build_index, index_exists, load_index, read_manifest, stale_reason

MAX_QUESTION_CHARS = 2000
MAX_K = 100
DEFAULT_CORPUS = Path("corpus")
DEFAULT_INDEX = Path("index")


@dataclass(frozen=True)
class Hit:
    """One cited passage: `text` is `source[start:end]` of `doc`, found under heading `section`."""

    id: str
    doc: str
    section: str
    start: int
    end: int
    score: float
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """The passages for one question, best first."""

    question: str
    passages: tuple[Hit, ...]
    took_ms: float = 0.0

    def to_dict(self, timing: bool = False) -> dict:
        out = {"question": self.question, "passages": [h.to_dict() for h in self.passages]}
        if timing:
            out["took_ms"] = round(self.took_ms, 2)
        return out


def check_question(question: str) -> str:
    """The question stripped, or a QAError saying what is wrong with it."""
    if not isinstance(question, str) or not question.strip():
        raise QAError("the question is empty: ask something, e.g. qa ask \"who leads the talks?\"", status=422)
    if len(question) > MAX_QUESTION_CHARS:
        raise QAError(f"the question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}", status=422)
    return question.strip()


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QAError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}", status=422)
    return k


class Retriever:
    """Searches one loaded index with the embedder it was built with."""

    def __init__(self, index: Index, embedder: Embedder) -> None:
        if embedder.model != index.model:
            raise QAError(f"index was built with {index.model!r}, cannot search it with {embedder.model!r}")
        self.index = index
        self.embedder = embedder

    @classmethod
    def open(
        cls,
        index_dir: Path = DEFAULT_INDEX,
        corpus: list[Path] | None = None,
        model: str | None = None,
        warn: Callable[[str], None] | None = None,
        progress=None,
    ) -> "Retriever":
        """Load the index at `index_dir`, building it first when it is missing or stale (said via `warn`)."""
        spec = resolve_model(model)
        index_dir = Path(index_dir)
        embedder = None
        if index_exists(index_dir):
            manifest = read_manifest(index_dir)
            reason = stale_reason(manifest, spec.name)
            if reason is None:
                return cls(load_index(index_dir), load_embedder(model))
            if warn:
                warn(f"index is stale ({reason}); rebuilding it")
            sources = [Path(s) for s in manifest["sources"]]
        else:
            if warn:
                warn(f"no index at {index_dir}; building it")
            sources = list(corpus or [DEFAULT_CORPUS])
        embedder = load_embedder(model)
        index = build_index(sources, index_dir, embedder, warn=warn, progress=progress)
        return cls(index, embedder)

    def search(self, questions: list[str], k: int = 5) -> list[Answer]:
        """The top-k passages for each question, best first (the batch form of `ask`)."""
        questions = [check_question(q) for q in questions]
        check_k(k)
        started = time.perf_counter()
        query_vectors = self.embedder.encode(questions)
        scores, rows = self._search_dense(query_vectors, k)
        took = (time.perf_counter() - started) * 1000 / max(len(questions), 1)
        return [
            Answer(question, tuple(self._hit(int(r), float(s)) for s, r in zip(srow, rrow) if r >= 0), took)
            for question, srow, rrow in zip(questions, scores, rows)
        ]

    def ask(self, question: str, k: int = 5) -> Answer:
        return self.search([question], k)[0]

    def _search_dense(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self.index.passages))
        return self.index.dense.search(np.ascontiguousarray(query_vectors, dtype=np.float32), k)

    def _hit(self, row: int, score: float) -> Hit:
        p = self.index.passages[row]
        return Hit(id=p.id, doc=p.doc, section=p.section, start=p.start, end=p.end, score=round(score, 4), text=p.text)
