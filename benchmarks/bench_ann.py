"""The ANN first pass (store/local/ann.py) against exact search and against the other FAISS options, per size.

    PYTHONPATH=src HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_ann.py \
        [--sizes 10000 20000 50000 100000 1000000] [--seed-index /tmp/ann-seed] [--ms-index DIR] \
        [--hnsw-up-to 1000000] [--fp16]

Real vectors: every passage vector and every sentence vector of the seed index (`qa index corpus`),
of the mixed eval corpus (`qa index eval/mixed/corpus`) and of the msmarco-5k index (`qa eval --beir ../shared/benchmarks/msmarco-5k`), all-MiniLM-L6-v2,
shuffled with a fixed seed (the "pool", about 27k). Real queries: the questions of
eval/questions.jsonl, eval/mixed/questions.jsonl and msmarco-5k's queries.jsonl, embedded by
`load_embedder()` (179), each asked `--repeat` times, one at a time, for the latencies.

A size of n vectors is synthesized as: row i = pool[i % m] for i < m (the real vectors themselves), and
for i >= m, pool[i % m] + N(0, sigma² I) noise, renormalized (sigma = 0.025 by default: a copy's cosine
to its source is 1/sqrt(1 + 384 sigma²) ≈ 0.90, like a near-paraphrase; the mean is printed). Exact
top-k of the queries over those n vectors is the truth every option's recall@k is measured against.

Per size the table gives, for the exact baseline (numpy matmul + argpartition, and faiss.knn) and each
option and search parameter: build seconds (k-means training included; the IVF options share one
trained coarse quantizer, whose training time is added to each), file MB, bytes a vector, p50/p99
single-query latency in ms with faiss.omp_set_num_threads(1) and the p50 with 2 threads, and recall@10.
The chosen option (ann.build_ann / ann.load_ann, mmap) is also built and loaded end to end through the
module, with its recall@10, recall@1000 and latency at k=1000 (the retriever's depth) and the RSS the
mmap-loaded index adds after the queries. `--fp16` compares exact search over the msmarco-5k vectors
stored fp16 against fp32: nDCG@10 of dense-only search, top-10 overlap, largest score difference.
The machine is shared: compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import faiss  # noqa: E402

from qa.store.local import ann  # noqa: E402
from qa.store.local.index import load_index  # noqa: E402

OPTIONS = ["IVF-SQ8", "IVF-Flat", "HNSW-Flat", "HNSW-SQ8"]
MS = Path("/work/shared/benchmarks/msmarco-5k")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def anon_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon")) / 1024


def real_vectors(dirs: list[Path]) -> np.ndarray:
    parts = []
    for d in dirs:
        index = load_index(d)
        # copies: vectors() is a view of the FAISS index's memory, freed with the index
        parts += [np.array(index.vectors(), np.float32), np.array(index.sentence_vectors, np.float32)]
        del index
    pool = np.concatenate(parts)
    assert np.allclose(np.linalg.norm(pool, axis=1), 1, atol=0.02), "the real vectors are not unit vectors"
    return pool[np.random.default_rng(7).permutation(len(pool))]


def questions() -> list[str]:
    texts = []
    for path in (ROOT / "eval/questions.jsonl", ROOT / "eval/mixed/questions.jsonl", MS / "queries.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                texts.append(record.get("question") or record["text"])
    return texts


def synthesized(pool: np.ndarray, n: int, sigma: float, seed: int = 11) -> np.ndarray:
    """n rows: the pool, then noisy renormalized copies of it (see the module docstring)."""
    m, d = pool.shape
    out = np.empty((n, d), np.float32)
    rng = np.random.default_rng(seed)
    for start in range(0, n, 65_536):
        stop = min(n, start + 65_536)
        part = out[start:stop]
        part[:] = pool[np.arange(start, stop) % m]
        noisy = np.arange(start, stop) >= m
        if noisy.any():
            part[noisy] += sigma * rng.standard_normal((int(noisy.sum()), d), dtype=np.float32)
            part[noisy] /= np.linalg.norm(part[noisy], axis=1, keepdims=True)
    return out


def exact_top(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    scores = q @ x.T if len(x) <= 200_000 else None
    if scores is None:  # chunked: a 179 × 1M score matrix is fine, but the matmul copy is not needed
        return faiss.knn(q, x, k, metric=faiss.METRIC_INNER_PRODUCT)[1]
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1)
    return np.take_along_axis(top, order, 1)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in zip(found, truth)]))


def timed(search, queries: np.ndarray, repeat: int, threads: int) -> tuple[float, float]:
    faiss.omp_set_num_threads(threads)
    search(queries[:1])  # warm-up
    times = []
    for _ in range(repeat):
        for q in queries:
            t = time.perf_counter()
            search(q[None])
            times.append((time.perf_counter() - t) * 1e3)
    faiss.omp_set_num_threads(1)
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


def file_mb(index) -> float:
    with tempfile.NamedTemporaryFile(dir="/tmp", suffix=".faiss") as f:
        faiss.write_index(index, f.name)
        return os.path.getsize(f.name) / 2**20


def row(name, build_s, mb, n, p, recall10):
    size = f"{mb:8.1f} {mb * 2**20 / n:7.0f}" if mb else f"{'-':>8} {'-':>7}"
    build = f"{build_s:7.1f}" if build_s is not None else f"{'-':>7}"
    print(f"  {name:<28} {build} {size} {p[0]:8.3f} {p[1]:8.3f} {p[2]:8.3f} {recall10:7.3f}", flush=True)


def sweep(name, index, build_s, mb, queries, truth, lat, settings: dict) -> None:
    """A row per search setting of one built FAISS index: its latency and recall@10."""
    for label, params in settings.items():
        found = index.search(queries, 10, params=params)[1]
        row(f"{name} {label}", build_s, mb, index.ntotal, lat(lambda q: index.search(q, 10, params=params)),
            recall(found, truth))


def bench_size(n: int, pool: np.ndarray, queries: np.ndarray, args) -> None:
    x = synthesized(pool, n, args.sigma)
    m = len(pool)
    if n > m:
        cos = np.einsum("ij,ij->i", x[m:m + 2000], pool[np.arange(m, m + 2000) % m])
        print(f"\n== {n:,} vectors ({m:,} real, the rest noisy copies: cosine to source {cos.mean():.3f})")
    else:
        print(f"\n== {n:,} vectors (all real)")
    truth = exact_top(x, queries, 10)
    print(f"  {'option':<28} {'build s':>7} {'file MB':>8} {'B/vec':>7} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'p50 2thr':>8} {'rec@10':>7}")

    def lat(search):
        p50, p99 = timed(search, queries, args.repeat, 1)
        return p50, p99, timed(search, queries, 1, 2)[0]

    def numpy_exact(q):
        s = x @ q[0]
        top = np.argpartition(-s, 9)[:10]
        return top[np.argsort(-s[top])]
    row("exact numpy matmul", None, n * 384 * 4 / 2**20, n, lat(numpy_exact), 1.0)
    row("exact faiss.knn (Flat)", None, 0, n, lat(lambda q: faiss.knn(q, x, 10, metric=faiss.METRIC_INNER_PRODUCT)), 1.0)

    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        quantizer, train_s = chosen(x, Path(folder), queries, truth, lat, args)
    kinds = {"IVF-SQ8": faiss.ScalarQuantizer.QT_8bit, "IVF-Flat": None}
    for kind, qtype in kinds.items():
        if kind not in args.options:
            continue
        faiss.omp_set_num_threads(2)
        t = time.perf_counter()
        if qtype is None:
            index = faiss.IndexIVFFlat(faiss.clone_index(quantizer), 384, quantizer.ntotal, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFScalarQuantizer(faiss.clone_index(quantizer), 384, quantizer.ntotal, qtype,
                                                  faiss.METRIC_INNER_PRODUCT)
            index.train(x[np.random.default_rng(ann.SEED).choice(n, min(n, 65_536), replace=False)])
        for start in range(0, n, ann.CHUNK):
            index.add(x[start:start + ann.CHUNK])
        build_s = train_s + time.perf_counter() - t
        mb = file_mb(index)
        sweep(kind, index, build_s, mb, queries, truth, lat,
              {f"nprobe={p}": faiss.SearchParametersIVF(nprobe=p) for p in args.nprobes if p <= index.nlist})
        del index
        gc.collect()

    if n <= args.hnsw_up_to:
        for name, make in (("HNSW-Flat M=32", lambda: faiss.IndexHNSWFlat(384, 32, faiss.METRIC_INNER_PRODUCT)),
                           ("HNSW-SQ8 M=32", lambda: faiss.IndexHNSWSQ(384, faiss.ScalarQuantizer.QT_8bit, 32,
                                                                       faiss.METRIC_INNER_PRODUCT))):
            if name.split()[0] not in args.options:
                continue
            faiss.omp_set_num_threads(2)
            index = make()
            index.hnsw.efConstruction = args.ef_construction
            t = time.perf_counter()
            index.train(x[:65_536])
            for start in range(0, n, ann.CHUNK):
                index.add(x[start:start + ann.CHUNK])
            build_s = time.perf_counter() - t
            mb = file_mb(index)
            sweep(f"{name} efC={args.ef_construction}", index, build_s, mb, queries, truth, lat,
                  {f"ef={ef}": faiss.SearchParametersHNSW(efSearch=ef) for ef in args.efs})
            del index
            gc.collect()



def chosen(x: np.ndarray, folder: Path, queries: np.ndarray, truth: np.ndarray, lat, args):
    """ann.build_ann from a read-only memmap of `x` (k-means timed apart, peak anonymous RSS sampled),
    ann.load_ann mmap'd, its nprobe swept and its own search (default nprobe, k=10 and k=1000) timed.
    Returns the trained coarse quantizer (for the other IVF options) and the k-means seconds."""
    n = len(x)
    np.save(folder / "v.npy", x)
    mapped = np.load(folder / "v.npy", mmap_mode="r")
    captured = {}
    plain = ann.trained

    def trained(vectors):
        t = time.perf_counter()
        index = plain(vectors)
        captured["train_s"], captured["quantizer"] = time.perf_counter() - t, faiss.clone_index(index.quantizer)
        return index

    peak, done = [anon_mb()], threading.Event()

    def sample():
        while not done.wait(0.05):
            peak.append(anon_mb())
    sampler = threading.Thread(target=sample)
    sampler.start()
    faiss.omp_set_num_threads(2)  # builds use both cores
    ann.trained = trained
    t = time.perf_counter()
    try:
        record = ann.build_ann(mapped, folder / "ann.faiss")
    finally:
        ann.trained = plain
        done.set()
        sampler.join()
    build_s = time.perf_counter() - t
    print(f"  (ann.build_ann: IVF{record['nlist']}, k-means on {record['train']:,} vectors {captured['train_s']:.1f} s "
          f"of {build_s:.1f} s; anonymous RSS peaked {max(peak) - peak[0]:.0f} MB above its start; "
          f"input {n * 384 * 4 / 2**20:.0f} MB, memmapped)", flush=True)
    faiss.omp_set_num_threads(1)
    before = rss_mb()
    loaded = ann.load_ann(folder / "ann.faiss", record, mmap=True)
    mb = os.path.getsize(folder / "ann.faiss") / 2**20
    sweep("IVF-SQfp16", loaded.index, build_s, mb, queries, truth, lat,
          {f"nprobe={p}": faiss.SearchParametersIVF(nprobe=p) for p in args.nprobes if p <= record["nlist"]})
    row(f"ann.py {record['kind']} np={record['nprobe']}", build_s, mb, n, lat(lambda q: loaded.search(q, 10)),
        recall(loaded.search(queries, 10)[0], truth))
    loaded.index.parallel_mode = 1  # one query's lists split among the threads (0: queries split)
    row("  same, parallel_mode=1", build_s, mb, n, lat(lambda q: loaded.search(q, 10)),
        recall(loaded.search(queries, 10)[0], truth))
    loaded.index.parallel_mode = 0
    deep = min(1000, n)
    p = timed(lambda q: loaded.search(q, deep), queries, 1, 1)
    truth_deep = exact_top(x, queries, deep)
    print(f"  ann.py at k={deep}: p50 {p[0]:.3f} ms, p99 {p[1]:.3f} ms, recall@{deep} "
          f"{recall(loaded.search(queries, deep)[0], truth_deep):.3f}, recall@100 "
          f"{recall(loaded.search(queries, 100)[0], truth_deep[:, :100]):.3f}; the mmap-loaded index adds "
          f"{rss_mb() - before:.0f} MB RSS after the queries; record {json.dumps(record)}", flush=True)
    loaded = None  # unmapped before the read load is measured
    before, t = rss_mb(), time.perf_counter()
    read = ann.load_ann(folder / "ann.faiss", record, mmap=False)
    print(f"  read into memory instead (mmap=False): {time.perf_counter() - t:.1f} s, +{rss_mb() - before:.0f} MB RSS; "
          f"recall@10 {recall(read.search(queries, 10)[0], truth):.3f}", flush=True)
    return captured["quantizer"], captured["train_s"]


def fp16_check(ms_index: Path) -> None:
    from qa.embed import load_embedder
    from qa.evaluation import ir_metrics, load_beir

    index = load_index(ms_index)
    _, queries, qrels = load_beir(MS)
    judged = [q for q in queries if qrels.get(q)]
    qv = load_embedder().encode([queries[q] for q in judged])
    v32 = np.asarray(index.vectors(), np.float32)
    v16 = v32.astype(np.float16)
    ids = [p.id for p in index.passages]
    print(f"\n== fp16 storage, msmarco-5k ({len(v32):,} passages, {len(judged)} judged queries, dense only)")
    tops = {}
    for name, v in (("fp32", v32), ("fp16", v16.astype(np.float32))):
        scores = qv @ v.T
        tops[name] = np.argsort(-scores, axis=1, kind="stable")[:, :100]
        tops[name + "s"] = scores
        figures = ir_metrics({q: qrels[q] for q in judged},
                             {q: [ids[i] for i in tops[name][j]] for j, q in enumerate(judged)},
                             ["ndcg@10", "recall@100", "mrr@10"])
        print(f"  {name}: {figures}")
    overlap = recall(tops["fp16"][:, :10], tops["fp32"][:, :10])
    same = float(np.mean(np.all(tops["fp16"][:, :10] == tops["fp32"][:, :10], axis=1)))
    print(f"  top-10 overlap fp16 vs fp32 {overlap:.4f}; same top-10 in the same order for {same:.0%} of queries; "
          f"largest |score difference| {np.abs(tops['fp16s'] - tops['fp32s']).max():.2e}; "
          f"bytes a vector 1536 -> 768")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000, 50_000, 100_000, 1_000_000])
    parser.add_argument("--seed-index", type=Path, default=Path("/tmp/ann-seed"), help="qa index corpus")
    parser.add_argument("--mixed-index", type=Path, default=Path("/tmp/ann-mixed"), help="qa index eval/mixed/corpus")
    parser.add_argument("--ms-index", type=Path, default=Path("/tmp/ann-ms.beir-msmarco-5k-e618fa6e0d"),
                        help="the index `qa eval --beir` builds of msmarco-5k")
    parser.add_argument("--sigma", type=float, default=0.025)
    parser.add_argument("--repeat", type=int, default=2, help="times each query is asked for the latencies")
    parser.add_argument("--nprobes", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--efs", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--ef-construction", type=int, default=40)
    parser.add_argument("--hnsw-up-to", type=int, default=1_000_000, help="skip HNSW above this size")
    parser.add_argument("--options", nargs="*", default=OPTIONS, choices=OPTIONS, help="the options compared")
    parser.add_argument("--fp16", action="store_true", help="also compare fp16 and fp32 exact search")
    args = parser.parse_args()
    from qa.embed import load_embedder

    faiss.omp_set_num_threads(1)
    pool = real_vectors([args.seed_index, args.mixed_index, args.ms_index])
    queries = np.ascontiguousarray(load_embedder().encode(questions()), np.float32)
    print(f"{len(pool):,} real vectors, {len(queries)} real queries asked {args.repeat}× each; faiss "
          f"{faiss.__version__}, {os.cpu_count()} cores")
    if args.fp16:
        fp16_check(args.ms_index)
    for n in args.sizes:
        bench_size(n, pool, queries, args)


if __name__ == "__main__":
    main()
