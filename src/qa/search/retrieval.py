"""Retrieval: questions in, cited passages out; the one result type every front end serializes."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from . import scoring
from .answerability import (EVIDENCE_DEPTH, ROLE_DEPTH, asked_role, expected_type, holds, is_answerable,
                            names_role)
from ..ingest.files import find_files
from ..embed import Embedder, load_embedder, resolve_model
from ..errors import QAError
from ..store.index import Index, build_index, index_exists, kept_onnx, load_index, read_manifest, stale_reason
from ..store.folder import check_index_target

MAX_QUESTION_CHARS = 2000
# Above this many passages the hybrid's second pass scores candidates only (see _search_hybrid):
# CANDIDATES from the first pass and as many from BM25, per question.
EXACT_UP_TO = 20_000
CANDIDATES = 1_000
MAX_K = 100
# dense: passage cosine only (the plain baseline); bm25: lexical only; hybrid: passage and best
# sentence cosines fused with BM25 (see scoring.py).
MODES = ("dense", "bm25", "hybrid")
DEFAULT_MODE = "hybrid"
DEFAULT_CORPUS = Path("corpus")
DEFAULT_INDEX = Path("index")


@dataclass(frozen=True)
class Highlight:
    """The sentence of a passage that best answers the question, by file offsets."""

    start: int
    end: int
    text: str
    page: int | None = None  # the 1-based page it starts on, in a paged document (PDF)


@dataclass(frozen=True)
class Hit:
    """One cited passage: `text` is `source[start:end]` of `doc`, found under heading `section` (on
    page `page` of a PDF). `source` is the file for .txt/.md, else its extracted text (`qa text DOC`).

    `score` is what the passage ranks by, higher first: cosine (dense), BM25 (bm25), or the fused
    score with its answer-type or role bonus, less 0.1 when a passage above is from its section (hybrid).
    """

    id: str
    doc: str
    section: str
    start: int
    end: int
    score: float
    text: str
    highlight: Highlight | None = None
    page: int | None = None  # the 1-based page it starts on, in a paged document (PDF); else None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """The passages for one question, best first."""

    question: str
    passages: tuple[Hit, ...]
    mode: str = DEFAULT_MODE
    answerable: bool = True
    took_ms: float = 0.0

    def to_dict(self, timing: bool = False) -> dict:
        out = {
            "question": self.question,
            "mode": self.mode,
            "answerable": self.answerable,
            "passages": [h.to_dict() for h in self.passages],
        }
        if timing:
            out["took_ms"] = round(self.took_ms, 2)
        return out


def check_question(question: str) -> str:
    """The question stripped, or a QAError saying what is wrong with it."""
    if not isinstance(question, str) or not question.strip():
        raise QAError("the question is empty: ask something, e.g. qa ask \"who leads the talks?\"", status=422)
    if len(question) > MAX_QUESTION_CHARS:
        raise QAError(f"the question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}", status=422)
    # A lone surrogate (a JSON "\ud800" escape, or argv bytes that are not UTF-8, which Python decodes
    # to U+DC80-U+DCFF) is not text: UTF-8 cannot encode it, nor can the tokenizer or a JSON response,
    # and it is the only thing UTF-8 refuses. Control characters, NUL included, are text and harmless
    # (the tokenizer drops them, JSON escapes them), so they are accepted.
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as error:
        raise QAError(f"the question holds characters that are not valid text (U+{ord(question[error.start]):04X}); "
                      f"send it as UTF-8", status=422) from None
    return question.strip()


def check_mode(mode: str | None) -> str:
    if mode is None:
        return DEFAULT_MODE
    if mode not in MODES:
        raise QAError(f"mode must be one of {', '.join(MODES)}, not {mode!r}", status=422)
    return mode


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QAError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}", status=422)
    return k


def _load_side_by_side(index_dir: Path, model: str | None, warn) -> tuple[Index, Embedder]:
    """The index and its embedder, the latter loaded in a thread meanwhile (ONNX Runtime releases the GIL)."""
    import threading

    box: dict = {}

    def load() -> None:
        try:
            box["embedder"] = load_embedder(model, kept=kept_onnx(index_dir, model), warn=warn)
        except BaseException as exc:  # re-raised below, in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=load, name="qa-load-embedder", daemon=True)
    thread.start()
    try:
        index = load_index(index_dir)
    finally:
        thread.join()
    if "error" in box:
        raise box["error"]
    return index, box["embedder"]


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
                return cls.load(index_dir, model, warn)
            if warn:
                warn(f"index is stale ({reason}); rebuilding it")
            sources = [Path(s) for s in manifest["sources"]]
        else:
            sources = list(corpus or [DEFAULT_CORPUS])
            try:
                find_files(sources)  # before the model loads: a missing corpus is said at once
            except QAError as error:
                raise QAError(f"no index at {index_dir}/ and none can be built ({error.message}): "
                              f"run `qa index FOLDER_OR_FILES --index-dir {index_dir}` first") from None
            if warn:
                warn(f"no index at {index_dir}; building it")
        check_index_target(index_dir, sources)  # before the model loads, as above
        embedder = load_embedder(model, kept=kept_onnx(index_dir, model), warn=warn)  # the old index's ONNX model
        index = build_index(sources, index_dir, embedder, warn=warn, progress=progress)
        return cls(index, embedder)

    @classmethod
    def load(cls, index_dir: Path = DEFAULT_INDEX, model: str | None = None,
             warn: Callable[[str], None] | None = None) -> "Retriever":
        """Load the index at `index_dir` as it is (no staleness check, no rebuild), with its embedder."""
        return cls(*_load_side_by_side(Path(index_dir), model, warn))

    def search(self, questions: list[str], k: int = 5, mode: str | None = None) -> list[Answer]:
        """The top-k passages for each question, best first (the batch form of `ask`)."""
        questions = [check_question(q) for q in questions]
        check_k(k)
        mode = check_mode(mode)
        started = time.perf_counter()
        query_vectors = np.asarray(self.embedder.encode(questions), dtype=np.float32)
        dense = self._search_dense(query_vectors)
        lexical = self._search_bm25(questions)  # every mode: abstention also reads BM25's best passages
        if mode == "bm25":
            scores = lexical
        elif mode == "dense":
            scores = dense
        else:
            scores = self._search_hybrid(query_vectors, dense, lexical)
        answers = []
        for question, query_vector, row, cosines, lexical_row in zip(questions, query_vectors, scores, dense, lexical):
            # abstention reads the best passages by relevance alone (before the answer-type bonus),
            # whatever k is: the mode's best, then BM25's (the passages holding the question's words)
            candidates = self._candidates(row, lexical_row, mode)
            bm25 = self.index.bm25
            evidence = [self.index.passages[r].text for r in candidates]
            answerable = is_answerable(question, evidence, bm25.knows, float(cosines.max()), bm25.stem)
            if mode == "hybrid":
                row = self._prefer_answer_type(question, row, candidates)
            top, shown = self._rank(row, k, mode)
            hits = tuple(self._hit(int(r), float(score), query_vector) for r, score in zip(top, shown))
            answers.append(Answer(question, hits, mode, answerable))
        took = (time.perf_counter() - started) * 1000 / max(len(questions), 1)
        return [replace(a, took_ms=took) for a in answers]

    def _rank(self, scores: np.ndarray, k: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows, best first, with the scores they rank by (hybrid: diversified by section)."""
        if mode == "hybrid":
            return scoring.diversify(scores, self.index.section_ids(), k)
        rows = scoring.top_k(scores, k)
        return rows, scores[rows]

    def _candidates(self, scores: np.ndarray, lexical: np.ndarray, mode: str) -> list[int]:
        """The mode's EVIDENCE_DEPTH (at least) best rows, then BM25's ROLE_DEPTH best not among them."""
        rows = [int(r) for r in self._rank(scores, max(EVIDENCE_DEPTH, ROLE_DEPTH), mode)[0]]
        return rows + [int(r) for r in scoring.top_k(lexical, ROLE_DEPTH) if r not in rows]

    def ask(self, question: str, k: int = 5, mode: str | None = None) -> Answer:
        return self.search([question], k, mode)[0]

    def _search_dense(self, query_vectors: np.ndarray) -> np.ndarray:
        """Cosine similarity of each question to every passage (questions × passages)."""
        return query_vectors @ self.index.vectors().T

    def _search_bm25(self, questions: list[str]) -> np.ndarray:
        return self.index.bm25.score(questions)

    def _search_hybrid(self, query_vectors: np.ndarray, dense: np.ndarray, lexical: np.ndarray) -> np.ndarray:
        """Hybrid scores (questions × passages). Up to EXACT_UP_TO passages every passage is scored (the
        figures in eval/README.md); above it the second pass, whose sentence scores cost 3-4 cosines a
        passage, scores only each question's candidates (the first pass's and BM25's CANDIDATES best),
        min-max normalized over them, and every other passage is -inf."""
        first_pass = scoring.fuse(dense, lexical)
        moved = scoring.rocchio(query_vectors, first_pass, self.index.vectors())
        w = scoring.PASSAGE_WEIGHT
        count = len(self.index.passages)
        if count <= EXACT_UP_TO:
            sentences = scoring.best_sentence(moved, self.index.sentence_vectors,
                                              self.index.sentence_spans[:, 0], count)
            return scoring.fuse(w * self._search_dense(moved) + (1 - w) * sentences, lexical)
        out = np.full((len(query_vectors), count), -np.inf, dtype=np.float32)
        for q, (vector, first, words) in enumerate(zip(moved, first_pass, lexical)):
            rows = np.union1d(scoring.top_k(first, CANDIDATES), scoring.top_k(words, CANDIDATES))
            fused = w * (self.index.vectors()[rows] @ vector) + (1 - w) * self._best_sentences(vector, rows)
            out[q, rows] = scoring.fuse(fused[None, :], words[rows][None, :])[0]
        return out

    def _best_sentences(self, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each passage of `rows` (sorted), the cosine of its sentence closest to `vector` (-1: none)."""
        passage_of = self.index.sentence_spans[:, 0]
        lo, hi = np.searchsorted(passage_of, rows, "left"), np.searchsorted(passage_of, rows, "right")
        counts = hi - lo
        out = np.full(len(rows), -1.0, dtype=np.float32)
        if counts.sum() == 0:
            return out
        firsts = np.cumsum(counts) - counts
        sentence_rows = np.arange(counts.sum()) - np.repeat(firsts, counts) + np.repeat(lo, counts)
        similarities = np.asarray(self.index.sentence_vectors[sentence_rows]) @ vector
        some = counts > 0
        out[some] = np.maximum.reduceat(similarities, firsts[some])
        return out

    def _prefer_answer_type(self, question: str, scores: np.ndarray, candidates: list[int]) -> np.ndarray:
        """Scores with a bonus for passages holding the kind of answer the question asks for: a year
        or a number; for who holds a role, the `candidates` with a sentence naming the role and whose
        it is go first."""
        answer_type = expected_type(question)
        if answer_type is not None:  # the scored passages only (a large index scores candidates alone)
            rows = np.flatnonzero(np.isfinite(scores))
            scores = scores.copy()
            scores[rows] += scoring.ANSWER_TYPE_BONUS * self._holds(answer_type, rows)
            return scores
        asked = asked_role(question, self.index.bm25.stem)
        if asked is None:
            return scores
        _, roles, names = asked
        scores = scores.copy()
        for row in candidates:
            if names_role(self.index.passages[row].text, roles, names, self.index.bm25.stem):
                scores[row] += scoring.ROLE_BONUS
        return scores

    def _holds(self, answer_type: str, rows: np.ndarray) -> np.ndarray:
        """1.0 for each passage of `rows` that holds an answer of `answer_type` ('year' or 'number'),
        else 0.0; each passage is looked at once per index."""
        known = self.index.extras.setdefault(f"_holds_{answer_type}",
                                             np.full(len(self.index.passages), -1, dtype=np.int8))
        for row in rows[known[rows] < 0].tolist():
            known[row] = holds(answer_type, self.index.passages[row].text)
        return known[rows].astype(np.float32)

    def _hit(self, row: int, score: float, query_vector: np.ndarray) -> Hit:
        p = self.index.passages[row]
        return Hit(id=p.id, doc=p.doc, section=p.section, start=p.start, end=p.end, score=round(score, 4),
                   text=p.text, highlight=self._highlight(row, query_vector), page=p.page)

    def _highlight(self, row: int, query_vector: np.ndarray) -> Highlight | None:
        """The passage's sentence closest to the question (sentence vectors are built with the index)."""
        spans = self.index.sentence_spans
        lo, hi = np.searchsorted(spans[:, 0], [row, row + 1])
        if lo == hi:
            return None
        best = lo + int(np.argmax(self.index.sentence_vectors[lo:hi] @ query_vector))
        _, start, end = (int(x) for x in spans[best])
        p = self.index.passages[row]
        return Highlight(start, end, p.text[start - p.start : end - p.start], self.index.page_of(p.doc, start))
