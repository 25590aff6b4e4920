"""The Qdrant store beside the local one: BM25 parity, rankings, copy time and p50/p99 per mode, on qdrant-client's local mode and qdrant-edge-py.

    .venv/bin/python benchmarks/bench_qdrant.py --index DIR --questions eval/questions.jsonl \
        [--sizes 10000] [--engines edge local] [--asked 20]

DIR is a real local index (e.g. `qa index eval/mixed/corpus --index-dir /tmp/mixed`). At its own
size: for every question, the local bm25s top 10 against the collection's sparse top 10 (overlap,
and whether each miss is a tie at rank 10), and the Retriever's top 5 on both stores in every mode.
At each `--sizes` the index is tiled by benchmarks/bench_scale.py's write_tiled (jittered copies) and
copied into each engine (no server: the engines run in this process), then `--asked` questions are
asked one at a time per mode. Collections are written under a temporary folder and removed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_scale import write_tiled  # noqa: E402
from qa.embed import load_embedder  # noqa: E402
from qa.search import scoring  # noqa: E402
from qa.search.retrieval import MODES, Retriever  # noqa: E402
from qa.store.qdrant import store as qdrant  # noqa: E402
from qa.store.qdrant import sync as qdrant_sync  # noqa: E402
from qa.store.local.index import kept_onnx, load_index  # noqa: E402
from qa.store.local.store import LocalStore  # noqa: E402
from qa.store.qdrant.layout import BM25  # noqa: E402


def url_of(engine: str, folder: Path) -> str:
    return f"edge:{folder}" if engine == "edge" else str(folder)


def bm25_parity(index, store, questions: list[str]) -> dict:
    """Per question: the local top 10 (positive scores) against the collection's sparse top 10."""
    local = index.bm25.score(questions)
    overlaps, tie_misses, misses, worst = [], 0, 0, 0.0
    for question, scores in zip(questions, local):
        top = [int(r) for r in scoring.top_k(scores, 10) if scores[r] > 0]
        sparse = store.bm25.question(question)
        hits = dict(store.engine.search(store.collection, BM25, [sparse], 10)[0]) if sparse[0] else {}
        found = {index.row_of(p["id"]): hits[pid] for pid, _, p in store.engine.retrieve(store.collection, list(hits),
                                                                                  payload=["id"])}
        worst = max([worst] + [abs(float(scores[r]) - s) for r, s in found.items()])
        overlaps.append(len(set(top) & set(found)) / len(top) if top else float(not found))
        outside = [r for r in found if r not in top]
        if outside:
            misses += 1
            tie_misses += all(abs(float(scores[r]) - float(scores[top[-1]])) < 1e-5 for r in outside)
    return {"mean_overlap": round(float(np.mean(overlaps)), 4), "full": sum(o == 1 for o in overlaps),
            "misses": misses, "misses_tied_at_10": tie_misses, "max_score_diff": float(f"{worst:.1e}")}


def same_rankings(index, store, embedder, questions: list[str]) -> dict:
    local, remote = Retriever(LocalStore(index), embedder), Retriever(store, embedder)
    out = {}
    for mode in MODES:
        a, b = local.search(questions, 5, mode), remote.search(questions, 5, mode)
        out[mode] = {"same_top1": sum(x.passages[0].id == y.passages[0].id for x, y in zip(a, b)),
                     "same_top5": sum([h.id for h in x.passages] == [h.id for h in y.passages] for x, y in zip(a, b)),
                     "same_answerable": sum(x.answerable == y.answerable for x, y in zip(a, b))}
    return out


def latencies(retriever, questions: list[str], mode: str) -> tuple[float, float]:
    retriever.ask("warm up", 1, mode)
    times = []
    for question in questions:
        started = time.perf_counter()
        retriever.ask(question, 5, mode)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, required=True, help="a question set (JSON lines, `question`)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000])
    parser.add_argument("--engines", nargs="+", default=["edge", "local"], choices=["edge", "local"])
    parser.add_argument("--asked", type=int, default=20, help="questions timed per mode and size")
    args = parser.parse_args()
    index = load_index(args.index)
    embedder = load_embedder(None, kept=kept_onnx(args.index))
    questions = [json.loads(line)["question"] for line in args.questions.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    print(f"{args.index} ({len(index.passages)} passages), {len(questions)} questions")
    with tempfile.TemporaryDirectory(prefix="bench-qdrant-") as tmp:
        for engine in args.engines:
            url = url_of(engine, Path(tmp) / engine)
            started = time.perf_counter()
            qdrant_sync.copy_index(index, url, "base")
            copied = time.perf_counter() - started
            store = qdrant.QdrantStore.open(url, "base")
            print(f"\n{engine}: copied in {copied:.1f} s; BM25 parity {bm25_parity(index, store, questions)}")
            print(f"{engine}: rankings vs the local store {same_rankings(index, store, embedder, questions)}")
            store.close()
        rng = np.random.default_rng(7)
        asked = questions[: args.asked]
        print("\n| passages | store | copy s | mode | p50 ms | p99 ms |\n|---|---|---|---|---|---|")
        for size in args.sizes:
            write_tiled(index, size, Path(tmp) / f"tiled-{size}", rng)
            big = load_index(Path(tmp) / f"tiled-{size}")
            local = Retriever(LocalStore(big), embedder)
            for mode in MODES:
                print(f"| {size:,} | local | – | {mode} | %.1f | %.1f |" % latencies(local, asked, mode))
            for engine in args.engines:
                url = url_of(engine, Path(tmp) / f"{engine}-{size}")
                started = time.perf_counter()
                qdrant_sync.copy_index(big, url, "tiled")
                copied = time.perf_counter() - started
                store = qdrant.QdrantStore.open(url, "tiled")
                retriever = Retriever(store, embedder)
                for mode in MODES:
                    print(f"| {size:,} | {engine} | {copied:.0f} | {mode} | %.1f | %.1f |" %
                          latencies(retriever, asked, mode))
                store.close()


if __name__ == "__main__":
    main()
