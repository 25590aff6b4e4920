"""The search path at scale: in-process p50/p99 per mode at 10k, 100k and 1M passages, and the RSS they take.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 10000 100000 1000000] [--index DIR]

Only the search path is measured; the corpus is not embedded again. A real index (default: the
msmarco-5k one that `qa eval --beir ../shared/benchmarks/msmarco-5k` builds beside index/, 5,000
passages with 3-4 sentences each) is tiled to each size in memory: every copy of a passage keeps its
text and gets its own id, its vector and its sentences' vectors get a little Gaussian noise (then
renormalized) so copies are distinct, and BM25's per-term postings are repeated for every copy (the
scores of a copy are its original's). Above `EXACT_UP_TO` passages the hybrid scores candidates only;
each such size is also measured with every passage scored (the code below the threshold), in the
same run. The questions are msmarco-5k's own, asked one at a time
(as `qa ask` does), after a warm-up question; each size is measured in the same run, so the
figures are ratios to the smallest size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from qa.embed import load_embedder  # noqa: E402
from qa.search import retrieval  # noqa: E402
from qa.search.retrieval import MODES, Retriever  # noqa: E402
from qa.store.index import Index, kept_onnx, load_index  # noqa: E402


def default_index() -> Path:
    found = sorted(ROOT.glob("index.beir-msmarco-5k-*"))
    if not found:
        raise SystemExit("no msmarco-5k index: run `qa eval --beir ../shared/benchmarks/msmarco-5k` once first")
    return found[0]


def tiled(index: Index, size: int, rng: np.random.Generator) -> Index:
    """`index` tiled to `size` passages (see the module docstring)."""
    import faiss

    n = len(index.passages)
    copies = -(-size // n)
    passages = [replace(p, id=f"{p.id}~{c}") for c in range(copies) for p in index.passages][:size]
    base = np.asarray(index.vectors(), dtype=np.float32)
    vectors = _jittered(np.concatenate([base] * copies)[:size], rng)
    dense = faiss.IndexFlatIP(vectors.shape[1])
    dense.add(vectors)
    spans = np.asarray(index.sentence_spans)
    tiled_spans = np.concatenate([spans + np.array([c * n, 0, 0]) for c in range(copies)])
    keep = tiled_spans[:, 0] < size
    tiled_spans = tiled_spans[keep]
    sentence_vectors = _jittered(np.concatenate([np.asarray(index.sentence_vectors)] * copies)[keep], rng)
    bm25 = _tiled_bm25(index.bm25, copies, n, size)
    return Index(index.path, {**index.manifest, "passage_count": size}, passages, dense, bm25, tiled_spans,
                 sentence_vectors, documents=index.documents)


def _jittered(vectors: np.ndarray, rng: np.random.Generator, chunk: int = 100_000) -> np.ndarray:
    """`vectors` with N(0, 0.01) noise added and renormalized, in place and a chunk at a time (memory)."""
    for start in range(0, len(vectors), chunk):
        part = vectors[start : start + chunk]
        part += 0.01 * rng.standard_normal(part.shape, dtype=np.float32)
        part /= np.linalg.norm(part, axis=1, keepdims=True)
    return vectors


def _tiled_bm25(bm25, copies: int, n: int, size: int):
    """The same BM25 object with every term's postings repeated for each copy (doc id + copy × n)."""
    import copy

    lengths = np.diff(bm25.indptr)
    column = np.repeat(np.arange(len(lengths)), lengths)
    indices = np.concatenate([bm25.indices + c * n for c in range(copies)])
    data = np.concatenate([bm25.data] * copies)
    columns = np.concatenate([column] * copies)
    order = np.argsort(columns, kind="stable")  # postings grouped by term, copies in order
    indices, data, columns = indices[order], data[order], columns[order]
    keep = indices < size
    indices, data, columns = indices[keep], data[keep], columns[keep]
    out = copy.copy(bm25)
    out.indices, out.data = indices, data
    out.indptr = np.concatenate([[0], np.cumsum(np.bincount(columns, minlength=len(lengths)))])
    out.num_docs = size
    return out


def questions(folder: Path, count: int) -> list[str]:
    path = folder / "queries.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return texts[:count]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--index", type=Path, help="a real index to tile (default: the msmarco-5k one)")
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source = args.index or default_index()
    base = load_index(source)
    embedder = load_embedder(None, kept=kept_onnx(source))
    asked = questions(ROOT.parent / "shared" / "benchmarks" / "msmarco-5k", args.questions)
    rng = np.random.default_rng(7)
    print(f"tiled from {source.name} ({len(base.passages)} passages), {len(asked)} questions, k={args.k}\n")
    print("| passages | mode | p50 ms | p99 ms | first when/how-many question ms | RSS after MB |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        index = tiled(base, size, rng)
        retriever = Retriever(index, embedder)
        retriever.ask("warm up", 1)
        started = time.perf_counter()
        retriever.ask("how many people live there", 1)  # builds the number mask, once per index
        first_typed = (time.perf_counter() - started) * 1000
        variants = [(mode, retrieval.EXACT_UP_TO) for mode in MODES]
        if size > retrieval.EXACT_UP_TO:  # the same run with every passage scored, as below the threshold
            variants.append(("hybrid, every passage scored", size))
        for mode, exact_up_to in variants:
            retrieval.EXACT_UP_TO, saved = exact_up_to, retrieval.EXACT_UP_TO
            latencies = []
            for question in asked:
                started = time.perf_counter()
                retriever.ask(question, args.k, mode.split(",")[0])
                latencies.append((time.perf_counter() - started) * 1000)
            retrieval.EXACT_UP_TO = saved
            p99 = sorted(latencies)[max(0, int(round(0.99 * len(latencies))) - 1)]
            print(f"| {size:,} | {mode} | {statistics.median(latencies):.1f} | {p99:.1f} | {first_typed:.0f} | "
                  f"{rss_mb():.0f} |", flush=True)
        del retriever, index
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
