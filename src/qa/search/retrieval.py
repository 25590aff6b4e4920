"""Retrieval: questions in, cited passages out; the one result type every front end serializes."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Callable

import numpy as np

from . import scoring
from .actors import asks_who, lexical_query, names_other_actor, passage_actors
from .rerank import SecondStage, check_reranker
from .split import SplitText
from .answerability import (EVIDENCE_DEPTH, ROLE_DEPTH, asked_role, expected_type, holds, is_answerable,
                            names_role)
from ..embed import Embedder
from ..errors import QAError, one_of
from ..store.base import Candidates, Store
from ..store.local.store import local_store
from ..store.local.index import Index

MAX_QUESTION_CHARS = 2000
# Each question's candidates: its CANDIDATES best passages by cosine and as many by BM25 (a small
# index offers every passage: store/local/store.py's EXACT_UP_TO).
CANDIDATES = 1_000
# a large store's candidates read with their neighbours (scoring.with_context): each question's
# CONTEXT_POOL best by their own scores, each with its neighbours among them; reading every
# candidate's passage cost 9 ms a question at 100k (benchmarks/bench_scale.py)
CONTEXT_POOL = 200
MAX_K = 100
# dense: passage cosine only (the plain baseline); bm25: lexical only; hybrid: passage and best
# sentence cosines fused with BM25 (see scoring.py).
MODES = ("dense", "bm25", "hybrid")
DEFAULT_MODE = "hybrid"


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
    score with its answer-type or role bonus, less 0.1 when a passage above is from its section (and,
    in a paged document, its page) (hybrid). With a second stage (search/rerank.py), a top-N passage's
    is that plus 0.2 × its min-max normalized MaxSim (late) or the cross-encoder's logistic score (cross).
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


class Question(str):
    """A question `check_question` accepted, stripped: it is checked once, where it comes in (the CLI,
    the HTTP API, a library call), and never again on its way to the retriever."""

    __slots__ = ()


def check_question(question: str) -> Question:
    """The question stripped, or a QAError saying what is wrong with it (a Question: as it is)."""
    if isinstance(question, Question):
        return question
    if not isinstance(question, str) or not question.strip():
        raise QAError("the question is empty: ask something, e.g. \"who leads the talks?\"", status=422)
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
    return Question(question.strip())


def check_mode(mode: str | None) -> str:
    return DEFAULT_MODE if mode is None else one_of(mode, MODES, "mode", status=422)


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QAError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}", status=422)
    return k


class Retriever:
    """Searches one store (a loaded local index, or Qdrant) with the embedder its passages were embedded with.

    Pure: it opens, checks and builds nothing (wiring.py opens a store for it)."""

    def __init__(self, store: Store | Index, embedder: Embedder) -> None:
        store = local_store(store) if isinstance(store, Index) else store
        if embedder.model != store.model:
            raise QAError(f"index was built with {store.model!r}, cannot search it with {embedder.model!r}")
        self.store = store
        self.embedder = embedder
        self._learned_cache: dict[str, dict] = {}  # what (an answer type, "actors") → store key → its value
        self._every_context: tuple[np.ndarray, tuple] | None = None  # (the store keys, _context of all)
        self.second_stage = SecondStage(embedder)  # its cross_encoder_dir is set by --reranker DIR

    @property
    def index(self) -> Index:
        """The local index searched (a local store's only)."""
        return self.store.index

    def close(self) -> None:
        """Release what the store holds open (a Qdrant engine's connection or folder lock)."""
        self.store.close()

    def search(self, questions: list[str], k: int = 5, mode: str | None = None,
               rerank: str | None = None) -> list[Answer]:
        """The top-k passages for each question, best first (the batch form of `ask`); `rerank`
        (search/rerank.py: none, late, cross) scores each question's first-stage top N again."""
        questions = [check_question(q) for q in questions]
        check_k(k)
        mode = check_mode(mode)
        rerank = check_reranker(rerank)
        started = time.perf_counter()
        query_vectors = np.asarray(self.embedder.encode(questions), dtype=np.float32)
        # BM25 searches the question without its interrogatives and degree words (actors.QUESTION_WORDS)
        found = self.store.candidates([lexical_query(q) for q in questions], query_vectors, CANDIDATES)
        # every mode reads BM25: abstention also looks at the passages holding the question's words
        if mode == "bm25":
            scores = relevance = _only_candidates(found.lexical, found.member)
        elif mode == "dense":
            scores = relevance = _only_candidates(found.dense, found.member)
        else:
            scores, relevance = self._search_hybrid(query_vectors, found)
        rows, answerable_flags = [], []
        for q, (question, row) in enumerate(zip(questions, scores)):
            # abstention reads the best passages by their own relevance alone (before their neighbours'
            # and the answer-type bonus), whatever k is: the mode's best, then BM25's (the passages
            # holding the question's words)
            lexical_row = _only_candidates(found.lexical[q : q + 1], _row(found.member, q))[0]
            evidence_rows = self._evidence(relevance[q], lexical_row, mode, found)
            evidence = [_split(found, r) for r in evidence_rows]
            best_cosine = float(_only_candidates(found.dense[q : q + 1], _row(found.member, q)).max())
            answerable_flags.append(is_answerable(question, evidence, self.store.knows, best_cosine,
                                                  self.store.stem))
            if mode == "hybrid":
                row = self._prefer_answer_type(question, row, evidence_rows, found, k)
            rows.append(row)
        rows = self.second_stage.rescore(rerank, questions, rows, lambda r: found.passages[r].text)
        answers = []
        for question, query_vector, row, answerable in zip(questions, query_vectors, rows, answerable_flags):
            top, shown = self._rank(row, k, mode, found)
            hits = tuple(self._hit(found, int(r), float(score), query_vector) for r, score in zip(top, shown))
            answers.append(Answer(question, hits, _mode_name(mode, rerank), answerable))
        answers = self._with_highlight_pages(answers)
        took = (time.perf_counter() - started) * 1000 / max(len(questions), 1)
        return [replace(a, took_ms=took) for a in answers]

    def _with_highlight_pages(self, answers: list[Answer]) -> list[Answer]:
        """`answers` with each highlight's page, from the page tables the store keeps, looked up for every
        hit at once (Qdrant: one request a search, not one a hit). A passage of an unpaged document has
        no page (`Passage.page` None), nor has its highlight: only paged ones are looked up."""
        paged = [(a, h) for a, answer in enumerate(answers) for h, hit in enumerate(answer.passages)
                 if hit.highlight is not None and hit.page is not None]
        if not paged:
            return answers
        pages = self.store.pages_of([(answers[a].passages[h].doc, answers[a].passages[h].highlight.start)
                                     for a, h in paged])
        hits = [list(answer.passages) for answer in answers]
        for (a, h), page in zip(paged, pages):
            hits[a][h] = replace(hits[a][h], highlight=replace(hits[a][h].highlight, page=page))
        return [replace(answer, passages=tuple(found)) for answer, found in zip(answers, hits)]

    def _rank(self, scores: np.ndarray, k: int, mode: str, found: Candidates) -> tuple[np.ndarray, np.ndarray]:
        """The k best candidates, best first, with the scores they rank by (hybrid: diversified by section
        and page)."""
        k = min(k, int(np.isfinite(scores).sum()))
        if mode == "hybrid":
            return scoring.diversify(scores, lambda rows: _section_ids(found, rows), k)
        rows = scoring.top_k(scores, k)
        return rows, scores[rows]

    def _evidence(self, scores: np.ndarray, lexical: np.ndarray, mode: str, found: Candidates) -> list[int]:
        """The mode's EVIDENCE_DEPTH (at least) best candidates, then BM25's ROLE_DEPTH best not among them."""
        rows = [int(r) for r in self._rank(scores, max(EVIDENCE_DEPTH, ROLE_DEPTH), mode, found)[0]]
        best = scoring.top_k(lexical, min(ROLE_DEPTH, int(np.isfinite(lexical).sum())))
        return rows + [int(r) for r in best if r not in rows]

    def ask(self, question: str, k: int = 5, mode: str | None = None, rerank: str | None = None) -> Answer:
        return self.search([question], k, mode, rerank)[0]

    def _search_hybrid(self, query_vectors: np.ndarray, found: Candidates) -> tuple[np.ndarray, np.ndarray]:
        """Hybrid scores (questions × candidates), min-max normalized over each question's candidates
        (every passage, for a store that offers all: the figures in eval/README.md); a passage that is
        not one of a question's candidates scores -inf for it. Twice: as ranked (short passages read
        with their neighbours, scoring.with_context) and by each passage's own relevance (what
        abstention reads)."""
        w = scoring.PASSAGE_WEIGHT
        if found.exact:
            first_pass = scoring.fuse(found.dense, found.lexical)
            moved = scoring.rocchio(query_vectors, first_pass, found.vectors)
            sentences = scoring.best_sentence(moved, found.sentence_vectors, found.sentence_spans[:, 0],
                                              len(found.passages))
            dense = w * (moved @ found.vectors.T) + (1 - w) * sentences
            in_context = scoring.with_context(dense, *self._context_of_every(found))
            return scoring.fuse(in_context, found.lexical), scoring.fuse(dense, found.lexical)
        out = np.full(found.dense.shape, -np.inf, dtype=np.float32)
        own = out.copy()
        for q, vector in enumerate(query_vectors):
            rows = np.flatnonzero(found.member[q])
            dense, words = found.dense[q : q + 1, rows], found.lexical[q : q + 1, rows]
            first_pass = scoring.fuse(dense, words)
            # only the feedback passages' vectors are read (best first, as rocchio itself would pick them)
            feedback = scoring.top_k(first_pass[0], scoring.FEEDBACK_DEPTH)
            moved = scoring.rocchio(vector[None, :], first_pass[:, feedback], found.vectors[rows[feedback]])[0]
            fused = w * found.cosines(moved, rows) + (1 - w) * found.best_sentences(moved, rows)
            own[q, rows] = scoring.fuse(fused[None, :], words)[0]
            pool = np.sort(scoring.top_k(own[q, rows], CONTEXT_POOL))  # positions in rows
            in_context = fused.copy()
            in_context[pool] = scoring.with_context(fused[None, pool], *_context(found, rows[pool]))[0]
            out[q, rows] = scoring.fuse(in_context[None, :], words)[0]
        return out, own

    def _context_of_every(self, found: Candidates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`_context` of every passage of an exact search: the same while the store offers the same
        passages (by their keys), so it is worked out once, not at every search. The first search pays it:
        at 10k passages 0.43 s of a cold process's first 0.52 s search is parsing every passage row."""
        if self._every_context is None or not np.array_equal(self._every_context[0], found.keys):
            self._every_context = (np.array(found.keys), _context(found, np.arange(len(found.passages))))
        return self._every_context[1]

    def _prefer_answer_type(self, question: str, scores: np.ndarray, evidence_rows: list[int],
                            found: Candidates, k: int) -> np.ndarray:
        """Scores with a bonus for passages holding the kind of answer the question asks for: a year
        or a number; for who holds a role, the `evidence_rows` with a sentence naming the role and
        whose it is go first; for any other who question, passages naming someone acting."""
        answer_type = expected_type(question)
        if answer_type is not None:
            rows = _liftable(scores, k, scoring.ANSWER_TYPE_BONUS)
            scores = scores.copy()
            scores[rows] += scoring.ANSWER_TYPE_BONUS * self._holds(answer_type, found, rows)
            return scores
        asked = asked_role(question, self.store.stem)
        if asked is None:
            return self._prefer_actors(question, scores, k, found) if asks_who(question) else scores
        _, roles, names = asked
        scores = scores.copy()
        for row in evidence_rows:
            if names_role(_split(found, row), roles, names, self.store.stem):
                scores[row] += scoring.ROLE_BONUS
        return scores

    def _prefer_actors(self, question: str, scores: np.ndarray, k: int, found: Candidates) -> np.ndarray:
        """Scores plus WHO_BONUS for each passage (of those the bonus can lift into the pool) with a
        sentence naming someone other than the question's names acting."""
        rows = _liftable(scores, k, scoring.WHO_BONUS)
        scores = scores.copy()
        for row, names in zip(rows.tolist(), self._learned("actors", found, rows, passage_actors)):
            if names_other_actor(names, question):
                scores[row] += scoring.WHO_BONUS
        return scores

    def _holds(self, answer_type: str, found: Candidates, rows: np.ndarray) -> np.ndarray:
        """1.0 for each candidate of `rows` that holds an answer of `answer_type` ('year' or 'number'), else 0.0."""
        held = self._learned(answer_type, found, rows, lambda text: holds(answer_type, text))
        return np.array(held, dtype=np.float32).reshape(len(rows))

    def _learned(self, what: str, found: Candidates, rows: np.ndarray, learn: Callable[[str], object]) -> list:
        """`learn(text)` of each candidate of `rows`: each passage is looked at once for `what` while this
        retriever lives (remembered by its store key)."""
        known = self._learned_cache.setdefault(what, {})
        out = []
        for row, key in zip(rows.tolist(), found.keys[rows].tolist()):
            value = known.get(key)
            if value is None:
                value = known[key] = learn(_split(found, row))
            out.append(value)
        return out

    def _hit(self, found: Candidates, row: int, score: float, query_vector: np.ndarray) -> Hit:
        p = found.passages[row]
        return Hit(id=p.id, doc=p.doc, section=p.section, start=p.start, end=p.end, score=round(score, 4),
                   text=p.text, highlight=self._highlight(found, row, query_vector), page=p.page)

    def _highlight(self, found: Candidates, row: int, query_vector: np.ndarray) -> Highlight | None:
        """The passage's sentence closest to the question (sentence vectors are built with the index)."""
        spans = found.sentence_spans
        lo, hi = np.searchsorted(spans[:, 0], [row, row + 1])
        if lo == hi:
            return None
        best = lo + int(np.argmax(np.asarray(found.sentence_vectors[lo:hi]) @ query_vector))
        _, start, end = (int(x) for x in spans[best])
        p = found.passages[row]
        return Highlight(start, end, p.text[start - p.start : end - p.start])  # its page: _with_highlight_pages


def _mode_name(mode: str, rerank: str) -> str:
    """What an answer says it was ranked by: the mode, then the second stage when there is one."""
    return mode if rerank == "none" else f"{mode}+{rerank}"


def _bonus_floor(scores: np.ndarray, k: int, bonus: float) -> float:
    """The lowest score from which `bonus` can lift a passage into the pool the top k are chosen from."""
    pool = scoring.top_k(scores, scoring.pool_size(k))
    return float(scores[pool[-1]]) - bonus if len(pool) else np.inf


def _liftable(scores: np.ndarray, k: int, bonus: float) -> np.ndarray:
    """The candidates `bonus` could lift into the pool the top k are chosen from: only they need be
    looked at for it (the ranking is the same as with every one)."""
    return np.flatnonzero(np.isfinite(scores) & (scores >= _bonus_floor(scores, k, bonus)))


def _row(member: np.ndarray | None, q: int) -> np.ndarray | None:
    return None if member is None else member[q : q + 1]


def _only_candidates(scores: np.ndarray, member: np.ndarray | None) -> np.ndarray:
    """`scores` with -inf where a passage is not the question's candidate."""
    return scores if member is None else np.where(member, scores, -np.inf).astype(np.float32)


def _context(found: Candidates, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the candidates `rows`: their lengths, and each one's neighbours among them (the position in
    `rows` of the passage before and after it in its document's section, -1 for none). Over every
    passage these are the passages next to it; over a large store's candidates, the nearest candidates
    of its section (its next passage may not be one)."""
    passages = [found.passages[r] for r in rows.tolist()]
    order = sorted(range(len(passages)), key=lambda i: (passages[i].doc, passages[i].start))
    previous = np.full(len(passages), -1, dtype=np.int64)
    following = np.full(len(passages), -1, dtype=np.int64)
    for a, b in zip(order, order[1:]):
        if (passages[a].doc, passages[a].section) == (passages[b].doc, passages[b].section):
            previous[b], following[a] = a, b
    return np.array([len(p.text) for p in passages]), previous, following


def _split(found: Candidates, row: int) -> SplitText:
    """Candidate `row`'s text with its sentences as the store keeps their spans (split at build time)."""
    p = found.passages[row]
    spans = found.sentence_spans
    lo, hi = np.searchsorted(spans[:, 0], [row, row + 1])
    return SplitText(p.text, [p.text[start - p.start : end - p.start] for _, start, end in spans[lo:hi].tolist()])


def _section_ids(found: Candidates, rows: np.ndarray) -> np.ndarray:
    """One integer per candidate of `rows` naming its (document, section, page): diversification
    spreads results over a long section's pages (a man page's OPTIONS runs over a dozen), not only
    over sections. An unpaged document's page is None: its sections are the unit, as before."""
    keys: dict[tuple[str, str, int | None], int] = {}
    return np.array([keys.setdefault((p.doc, p.section, p.page), len(keys))
                     for p in (found.passages[r] for r in rows.tolist())], dtype=np.int64)
