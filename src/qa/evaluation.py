"""Evaluation: score retrieval on a hand-written question set or a BEIR folder with standard IR metrics."""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import QAError

DEFAULT_EVALSET = Path("eval/questions.jsonl")
BEIR_DEPTH = 100  # BEIR figures are nDCG@10, Recall@100 and MRR@10: retrieve 100
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                         "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"'})
# Display names of the figures, in report order; keys are ranx's names (plus our evidence recall).
LABELS = {"hit_rate@1": "Hit@1", "hit_rate@3": "Hit@3", "hit_rate@5": "Hit@5", "mrr@10": "MRR@10",
          "ndcg@10": "nDCG@10", "recall@100": "Recall@100", "page_accuracy": "Page acc."}


@dataclass(frozen=True)
class EvalQuestion:
    """One question of the set: relevant passages are those containing any `evidence` string; `page`,
    for a question about a PDF, is the 1-based page its answer is on (None: no page asked for)."""

    id: str
    question: str
    evidence: tuple[str, ...]
    answerable: bool
    page: int | None = None


def fold(text: str) -> str:
    """Text for evidence matching: case, straight/curly quotes and runs of whitespace folded."""
    return " ".join(text.translate(_QUOTES).casefold().split())


def load_questions(path: Path) -> list[EvalQuestion]:
    """The question set in `path` (JSON lines), or a QAError naming the file, line and problem."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise QAError(f"no evaluation set at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QAError(f"cannot read evaluation set {path}: {exc}") from None
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise QAError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(record, dict):
            raise QAError(f"{where}: expected a JSON object with id, question, evidence, answerable")
        missing = [f for f in ("id", "question", "evidence", "answerable") if f not in record]
        if missing:
            raise QAError(f"{where}: missing field(s) {', '.join(missing)}")
        qid, question, evidence, answerable = (record[f] for f in ("id", "question", "evidence", "answerable"))
        if not isinstance(qid, str) or not qid.strip():
            raise QAError(f"{where}: id must be a non-empty string")
        if qid in seen:
            raise QAError(f"{where}: duplicate id {qid!r}")
        if not isinstance(question, str) or not question.strip():
            raise QAError(f"{where}: question must be a non-empty string")
        if not isinstance(answerable, bool):
            raise QAError(f"{where}: answerable must be true or false")
        if not isinstance(evidence, list) or not all(isinstance(e, str) and e.strip() for e in evidence):
            raise QAError(f"{where}: evidence must be a list of non-empty strings")
        if answerable and not evidence:
            raise QAError(f"{where}: an answerable question needs at least one evidence string")
        if not answerable and evidence:
            raise QAError(f"{where}: an unanswerable question must have no evidence")
        page = record.get("page")
        if page is not None and (not isinstance(page, int) or isinstance(page, bool) or page < 1):
            raise QAError(f"{where}: page must be a whole number from 1 (the 1-based page of the answer)")
        if page is not None and not answerable:
            raise QAError(f"{where}: an unanswerable question has no page")
        seen.add(qid)
        questions.append(EvalQuestion(qid, question.strip(), tuple(evidence), answerable, page))
    if not questions:
        raise QAError(f"evaluation set {path} has no questions")
    return questions


def judge(passages, evidence: tuple[str, ...]) -> dict[str, set[int]]:
    """Passage id → indexes of the evidence strings it contains, for every passage containing any."""
    wanted = [fold(e) for e in evidence]
    found: dict[str, set[int]] = {}
    for passage_id, folded in passages:
        hits = {i for i, e in enumerate(wanted) if e in folded}
        if hits:
            found[passage_id] = hits
    return found


def ir_metrics(qrels: dict[str, dict[str, int]], run: dict[str, list[str]], metrics: list[str]) -> dict[str, float]:
    """Mean ranx `metrics` of ranked passage-id lists `run` against graded `qrels` (judged queries only)."""
    from ranx import Qrels, Run, evaluate  # ~2 s to import: only when evaluating

    qrels = {q: dict(r) for q, r in qrels.items() if r}
    if not qrels:
        return {m: 0.0 for m in metrics}
    # scores that reproduce the retriever's order exactly (no ties for ranx to reorder)
    ranked = {q: {pid: 1.0 / (i + 1) for i, pid in enumerate(dict.fromkeys(run.get(q, [])))} for q in qrels}
    ranked = {q: r or {"\x00none": 0.0} for q, r in ranked.items()}  # ranx needs a row per query
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba type-safety chatter
        scores = evaluate(Qrels(qrels), Run(ranked), metrics, make_comparable=True)
    if isinstance(scores, (int, float)):
        scores = {metrics[0]: scores}
    return {m: round(float(v), 4) for m, v in scores.items()}


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (linear interpolation), 0 for no values."""
    import numpy as np

    return float(np.percentile(values, p)) if values else 0.0


def page_accuracy(questions: list[EvalQuestion], judged: dict[str, dict],
                  hits: dict[str, list]) -> tuple[float, list[dict]] | None:
    """Page accuracy over the answerable questions that have a `page` and whose evidence some passage of
    the index holds: the share whose first relevant hit in `hits` (the top k, best first) cites that
    page. A question with no relevant hit in the top k counts as wrong. Also a row per question that
    missed (cited page None: no relevant hit, or a hit without a page). None when no question has a page."""
    paged = [q for q in questions if q.answerable and q.page is not None and judged.get(q.id)]
    if not paged:
        return None
    misses = []
    for q in paged:
        rank, hit = next(((i, h) for i, h in enumerate(hits[q.id], 1) if h.id in judged[q.id]), (None, None))
        cited = getattr(hit, "page", None)
        if cited != q.page:
            misses.append({"id": q.id, "page": q.page, "cited_page": cited, "first_relevant_rank": rank})
    return round(1 - len(misses) / len(paged), 4), misses


def check_modes(mode: str | None, compare: bool, rerank: str | None = None) -> list[str]:
    """The runs: with `compare`, every one of retrieval.MODES, then the default mode with the second
    stage `rerank` when one is asked for (search/rerank.py: on and off side by side); else `mode`
    (None: the default), as "mode+rerank" with a second stage."""
    from .search.rerank import check_reranker
    from .search.retrieval import DEFAULT_MODE, MODES, check_mode

    rerank = check_reranker(rerank)
    second = [] if rerank == "none" else [f"{DEFAULT_MODE if compare or mode is None else check_mode(mode)}+{rerank}"]
    return [*MODES, *second] if compare else second or [check_mode(mode)]


def split_run(run: str) -> tuple[str, str]:
    """A run's mode and second stage: "hybrid+late" -> ("hybrid", "late"), "bm25" -> ("bm25", "none")."""
    mode, _, rerank = run.partition("+")
    return mode, rerank or "none"


def _timed_run(retriever, texts: list[str], k: int, run: str | None):
    """Batch answers (what is scored) and per-question latencies (each question asked on its own)."""
    mode, rerank = split_run(run) if run else (None, "none")
    second = {} if rerank == "none" else {"rerank": rerank}  # a run without one calls as before
    answers = retriever.search(texts, k, mode=mode, **second)
    latencies = []
    for text in texts:
        started = time.perf_counter()
        retriever.ask(text, k, mode=mode, **second)
        latencies.append((time.perf_counter() - started) * 1000)
    return answers, {"p50": round(percentile(latencies, 50), 2), "p95": round(percentile(latencies, 95), 2)}


def evaluate_questions(retriever, questions: list[EvalQuestion], k: int = 10,
                       modes: list[str] | None = None, where: str = "the index") -> dict:
    """Run every question through `retriever` in each mode and score the passages against the evidence;
    a QAError when no passage holds any question's evidence (`where` names the index in it)."""
    passages = [(p.id, fold(p.text)) for p in retriever.store.passages()]
    answerable = [q for q in questions if q.answerable]
    judged = {q.id: judge(passages, q.evidence) for q in answerable}
    qrels = {qid: {pid: 1 for pid in found} for qid, found in judged.items()}
    unmatched = sorted(qid for qid, found in judged.items() if not found)
    if answerable and len(unmatched) == len(answerable):  # every figure would be 0: the wrong corpus, not ranking
        raise QAError(f"{where} holds none of the questions' evidence (an index of another corpus?): give the "
                      f"set's folder instead, e.g. qa eval eval/mixed (its questions.jsonl and corpus/), or "
                      f"--index-dir an index of the set's corpus")
    metrics = ["hit_rate@1", "hit_rate@3", "hit_rate@5", "mrr@10", "ndcg@10"]
    runs = {}
    for mode in modes or check_modes(None, False):
        answers, latency = _timed_run(retriever, [q.question for q in questions], k, mode)
        by_id = {q.id: a for q, a in zip(questions, answers)}
        ranked = {q.id: [h.id for h in by_id[q.id].passages] for q in answerable}
        figures = ir_metrics(qrels, ranked, metrics)
        recalls, misses = [], []
        for q in answerable:
            found = judged[q.id]
            covered = set().union(*(found.get(pid, set()) for pid in ranked[q.id]))
            recalls.append(len(covered) / len(q.evidence))
            rank = next((i for i, pid in enumerate(ranked[q.id], 1) if pid in found), None)
            if rank != 1:
                top = by_id[q.id].passages[0] if by_id[q.id].passages else None
                misses.append({"id": q.id, "question": q.question, "first_relevant_rank": rank,
                               "top_section": top.section if top else None})
        figures[f"recall@{k}"] = round(sum(recalls) / len(recalls), 4) if recalls else 0.0
        runs[mode] = {"metrics": figures, "latency_ms": latency, "abstention": _abstention(questions, by_id),
                      "misses": misses}
        pages = page_accuracy(questions, judged, {q.id: list(by_id[q.id].passages) for q in answerable})
        if pages is not None:  # only a set with pages reports them: the default set's report is unchanged
            figures["page_accuracy"], runs[mode]["page_misses"] = pages
    return {"questions": len(questions), "answerable": len(answerable),
            "unanswerable": len(questions) - len(answerable), "k": k, "unmatched_evidence": unmatched,
            "runs": runs}


def evaluate_evalset(path: Path, settings, k: int = 10, modes: list[str] | None = None, warn=None,
                     progress=None) -> dict:
    """Load the set at `path`, open the store of `settings` exactly as `qa ask` does, and evaluate every mode."""
    from contextlib import closing

    from .search.retrieval import check_k
    from .wiring import open_retriever

    check_k(k)
    questions = load_questions(path)
    with closing(open_retriever(settings, build_if_missing=True, warn=warn, progress=progress)) as retriever:
        where = retriever.store.describe().get("collection", settings.index_dir)  # a Qdrant store names its collection
        report = evaluate_questions(retriever, questions, k, modes, where=f"the index at {where}")
        return {"evalset": str(path), "index": str(where), "model": retriever.store.model, **report}


def _abstention(questions: list[EvalQuestion], answers: dict) -> dict | None:
    """How the retriever's `answerable` flag does, when its answers have one."""
    if not answers or not all(hasattr(a, "answerable") for a in answers.values()):
        return None
    unanswerable = [q for q in questions if not q.answerable]
    answerable = [q for q in questions if q.answerable]
    answered = [q.id for q in unanswerable if answers[q.id].answerable]
    false = [q.id for q in answerable if not answers[q.id].answerable]
    abstained = len(unanswerable) - len(answered)
    return {"abstained": abstained, "unanswerable": len(unanswerable),
            "accuracy": round(abstained / len(unanswerable), 4) if unanswerable else None,
            "false_abstentions": len(false), "false_abstention_rate": round(len(false) / len(answerable), 4)
            if answerable else None, "answered_unanswerable": answered, "abstained_answerable": false}


# --- BEIR ----------------------------------------------------------------------------------------

def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise QAError(f"BEIR folder is missing {path.name}: expected {path}")
    records = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise QAError(f"{path}, line {number}: not valid JSON ({exc})") from None
            if not isinstance(record, dict) or "_id" not in record or not isinstance(record.get("text"), str):
                raise QAError(f"{path}, line {number}: expected an object with _id and text")
            records.append(record)
    return records


def load_beir(folder: Path) -> tuple[list[dict], dict[str, str], dict[str, dict[str, int]]]:
    """Corpus records, query id → text and graded qrels (query id → doc id → grade) of a BEIR folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise QAError(f"no BEIR folder at {folder}")
    corpus = _read_jsonl(folder / "corpus.jsonl")
    queries = {str(r["_id"]): r["text"] for r in _read_jsonl(folder / "queries.jsonl")}
    qrels_path = folder / "qrels" / "test.tsv"
    if not qrels_path.is_file():
        raise QAError(f"BEIR folder is missing qrels/test.tsv: expected {qrels_path}")
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(qrels_path.read_text(encoding="utf-8").splitlines(), 1):
        cols = line.split("\t") if "\t" in line else line.split()
        if not line.strip():
            continue
        if len(cols) < 3 or not re.fullmatch(r"-?\d+", cols[-1].strip()):
            if number == 1:
                continue  # a header row (query-id, corpus-id, score)
            raise QAError(f"{qrels_path}, line {number}: expected query-id, corpus-id, score")
        qrels.setdefault(cols[0].strip(), {})[cols[-2].strip()] = int(cols[-1])
    return corpus, queries, qrels


def beir_index_dir(folder: Path, index_dir: Path) -> Path:
    """Where a BEIR corpus's index lives: beside `index_dir`, as <index_dir>.beir-<name>-<path hash>."""
    folder = Path(folder).resolve()
    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:10]
    return Path(index_dir).with_name(f"{Path(index_dir).name}.beir-{folder.name}-{digest}")


def beir_index(folder: Path, target: Path, embedder, corpus: list[dict], progress=None, warn=None):
    """The index of a BEIR corpus at `target`, reused while corpus.jsonl and the model are unchanged."""
    from .ingest.files import file_sha256
    from .store.local.index import index_exists, load_index, read_manifest
    from .store.local.build import write_index
    from .ingest.passages import Passage

    corpus_file = Path(folder) / "corpus.jsonl"
    stat = corpus_file.stat()
    if index_exists(target):
        try:
            manifest = read_manifest(target)
            record = manifest["files"][0]
            same = (record["size"], record["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns) or \
                record["sha256"] == file_sha256(corpus_file)
            if manifest["model"] == embedder.model and same:
                return load_index(target)  # a corrupt or outdated one is rebuilt below
            reason = "model changed" if manifest["model"] != embedder.model else "corpus.jsonl changed"
        except (QAError, KeyError, IndexError, TypeError, ValueError) as exc:
            reason = re.sub(r":? run `qa index`.*$", "", getattr(exc, "message", f"unreadable manifest ({exc})"))
        if warn:
            warn(f"BEIR index at {target} is stale ({reason}); rebuilding it")
    passages, ids = [], set()
    for ordinal, record in enumerate(corpus):
        doc_id, title, text = str(record["_id"]), str(record.get("title") or ""), record["text"]
        if doc_id in ids:
            continue
        ids.add(doc_id)
        passages.append(Passage(id=doc_id, doc=doc_id, title=title, section=title, ordinal=ordinal,
                                start=0, end=len(text), text=text))
    if not passages:
        raise QAError(f"{corpus_file} has no documents")
    if warn:
        warn(f"embedding {len(passages)} BEIR passages into {target} (reused next time)")
    files = [{"doc": "corpus.jsonl", "sha256": file_sha256(corpus_file), "size": stat.st_size,
              "mtime_ns": stat.st_mtime_ns}]
    return write_index(passages, target, embedder, {"sources": [str(corpus_file)], "files": files,
                                                    "beir": Path(folder).name}, progress=progress, reuse=True)


def evaluate_beir(folder: Path, settings, modes: list[str] | None = None, progress=None,
                  warn: Callable[[str], None] | None = None, embedder=None) -> dict:
    """nDCG@10, Recall@100 and MRR@10 (ranx, graded qrels) of each mode over a BEIR folder's judged queries,
    and how many of them were wrongly marked unanswerable (all have an answer in the corpus). The local
    BEIR index is kept beside `settings.index_dir`; over another store, searched in its copy there."""
    from .store.local.index import kept_onnx
    from .search.retrieval import Retriever
    from . import wiring

    corpus, queries, qrels = load_beir(folder)  # a bad folder fails before a model is loaded
    wiring.reach(settings)  # so does an unreachable store
    target = beir_index_dir(folder, settings.index_dir)
    embedder = embedder or wiring.load_embedder(settings, kept=kept_onnx(target, settings.model), warn=warn)
    index = beir_index(folder, target, embedder, corpus, progress=progress, warn=warn)
    judged = [q for q in queries if qrels.get(q) and queries[q].strip()]
    if not judged:
        raise QAError(f"no query in {folder} has judgments in qrels/test.tsv")
    store = wiring.beir_store(settings, index, warn=warn)
    try:
        described = store.describe()  # a remote store names its collection and url
        retriever = Retriever(store, embedder)
        retriever.second_stage.cross_encoder_dir = settings.reranker  # the cross-encoder of "+cross" runs
        report = _score_beir(retriever, folder, queries, qrels, judged, modes,
                             described.get("collection", str(index.path)))
        return {**report, "url": described["url"]} if "url" in described else report
    finally:
        store.close()


def _score_beir(retriever, folder: Path, queries: dict, qrels: dict, judged: list[str], modes: list[str] | None,
                where: str) -> dict:
    """The BEIR report of `retriever` (over the local index or its Qdrant copy) on the judged queries."""
    count = retriever.store.count
    depth = min(BEIR_DEPTH, count)
    runs = {}
    for mode in modes or check_modes(None, False):
        answers, latency = _timed_run(retriever, [queries[q] for q in judged], depth, mode)
        ranked = {q: [h.id for h in a.passages] for q, a in zip(judged, answers)}
        figures = ir_metrics({q: qrels[q] for q in judged}, ranked, ["ndcg@10", "recall@100", "mrr@10"])
        # every judged query has an answer in the corpus: each abstention is a false one
        asked = [EvalQuestion(q, queries[q], (), True) for q in judged]
        runs[mode] = {"metrics": figures, "latency_ms": latency,
                      "abstention": _abstention(asked, dict(zip(judged, answers)))}
    return {"beir": str(folder), "index": where, "documents": count,
            "queries": len(judged), "k": depth, "runs": runs}


# --- gates and reports ---------------------------------------------------------------------------
