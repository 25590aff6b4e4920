"""The search path at scale: per size (10k, 100k, 1M passages), an index on disk, its size, cold `qa ask`,
a loaded `qa serve`'s RSS and its HTTP p50/p99 per mode, and in-process p50/p99 per mode.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 10000 100000 1000000] [--index DIR] [--work DIR]
        [--store qdrant]   (each size also copied into a Qdrant collection on the edge engine, measured beside)

The corpus is not embedded again. A real index (default: the msmarco-5k one that `qa eval --beir
../shared/benchmarks/msmarco-5k` builds beside index/, 5,000 passages with 3-4 sentences each) is
tiled to each size and written to disk as `qa index` writes an index (the same files, manifest,
hashes and verification stamp): every copy of a passage keeps its text and gets its own id and
document, its vector and its sentences' vectors get a little Gaussian noise (N(0, 0.01) a
coordinate, then renormalized) so copies are distinct, and BM25's per-term postings are repeated
for every copy (the scores of a copy are its original's). Above `EXACT_UP_TO` passages each question
ranks its candidates only; each such size is also measured in-process with every passage scored
(the code below the threshold) when it has no ANN index, and with an exact first pass when it has one, in
the same run. The questions are msmarco-5k's own, asked one at a
time (as `qa ask` does), after a warm-up question; every size is measured in the same run, so the
figures are ratios to the smallest size. Build time is not measured here (the vectors are not
computed): `benchmarks/bench_build.py` measures a real build.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_api import percentile, start_server  # noqa: E402
from qa.embed import load_embedder  # noqa: E402
from qa.embed.onnx_export import place_file  # noqa: E402
from qa.search.retrieval import MODES, Retriever  # noqa: E402
from qa.store.local import store as local  # noqa: E402
from qa.store.qdrant import sync as qdrant_sync  # noqa: E402
from qa.store.qdrant.store import QdrantStore  # noqa: E402
from qa.store.local.folder import MANIFEST, hash_files, stamp_verified  # noqa: E402
from qa.store.local.ann import ANN_FROM, build_ann  # noqa: E402
from qa.store.local.index import (ANN, BM25, DENSE, PASSAGES, SENTENCE_DTYPE, SENTENCE_KEYS, SENTENCE_SPANS,  # noqa: E402
                            SENTENCE_VECTORS, TEXT_KEYS, Index, _flat_vectors, kept_onnx, load_index)
from qa.store.lexical import FREQUENCIES, LENGTHS, PARAMS, ROWS, STARTS  # noqa: E402
from qa.store.local.passage_table import write_passages  # noqa: E402


def default_index() -> Path:
    found = sorted(ROOT.glob("index.beir-msmarco-5k-*"))
    if not found:
        raise SystemExit("no msmarco-5k index: run `qa eval --beir ../shared/benchmarks/msmarco-5k` once first")
    return found[0]


def write_tiled(base: Index, size: int, folder: Path, rng: np.random.Generator) -> None:
    """`base` tiled to `size` passages, written to `folder` as a qa index (see the module docstring)."""
    import faiss

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    n = len(base.passages)
    copies = -(-size // n)
    originals = list(base.passages)
    write_passages([replace(p, id=f"{p.id}~{c}", doc=f"{p.doc}~{c}") for c in range(copies) for p in originals][:size],
                   folder, PASSAGES)
    del originals
    dense = faiss.IndexFlatIP(base.dense.d)
    vectors = np.asarray(base.vectors(), dtype=np.float32)
    for c in range(copies):
        dense.add(_jittered(vectors[: size - c * n].copy(), rng))
    faiss.write_index(dense, str(folder / DENSE))
    ann = {"file": ANN, **build_ann(_flat_vectors(dense), folder / ANN)} if size >= ANN_FROM else None
    del dense
    spans = np.asarray(base.sentence_spans)
    tiled_spans = np.concatenate([spans + np.array([c * n, 0, 0]) for c in range(copies)])
    tiled_spans = tiled_spans[tiled_spans[:, 0] < size]
    np.save(folder / SENTENCE_SPANS, tiled_spans, allow_pickle=False)
    out = np.lib.format.open_memmap(folder / SENTENCE_VECTORS, mode="w+", dtype=SENTENCE_DTYPE,
                                    shape=(len(tiled_spans), base.dense.d))
    sentences = np.asarray(base.sentence_vectors, dtype=np.float32)
    for start in range(0, len(tiled_spans), len(sentences)):
        part = sentences[: len(tiled_spans) - start].copy()
        out[start : start + len(part)] = _jittered(part, rng)
    out.flush()
    del out
    _write_tiled_bm25(base, copies, n, size, folder / BM25)
    for name, rows in ((TEXT_KEYS, size), (SENTENCE_KEYS, len(tiled_spans))):  # copies of a text share its key
        keys = np.load(base.path / name, allow_pickle=False)
        np.save(folder / name, np.concatenate([keys] * copies)[:rows], allow_pickle=False)
    for name in ("documents.jsonl", "texts"):
        (shutil.copytree if (base.path / name).is_dir() else shutil.copy)(base.path / name, folder / name)
    onnx = base.manifest.get("onnx")
    if onnx:
        place_file(base.path / onnx["file"], folder / onnx["file"])
    manifest = {**base.manifest, "passage_count": size, "tiled_from": str(base.path)}
    manifest.pop("ann", None)
    if ann:
        manifest["ann"] = ann
    manifest["file_hashes"] = hash_files(folder)
    stamp_verified(folder, manifest)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _jittered(vectors: np.ndarray, rng: np.random.Generator, chunk: int = 100_000) -> np.ndarray:
    """`vectors` with N(0, 0.01) noise added and renormalized, in place and a chunk at a time (memory)."""
    for start in range(0, len(vectors), chunk):
        part = vectors[start : start + chunk]
        part += 0.01 * rng.standard_normal(part.shape, dtype=np.float32)
        part /= np.linalg.norm(part, axis=1, keepdims=True)
    return vectors


def _write_tiled_bm25(base: Index, copies: int, n: int, size: int, folder: Path) -> None:
    """The base's BM25 postings with every term's passages repeated for each copy (row + copy × n)."""
    bm25 = base.bm25
    shutil.copytree(base.path / BM25, folder)
    terms = np.repeat(np.arange(len(bm25.vocab), dtype=np.int64), np.diff(bm25.starts))
    rows = np.concatenate([np.asarray(bm25.rows, dtype=np.int64) + c * n for c in range(copies)])
    keep = rows < size
    keys = (np.concatenate([terms] * copies) * size + np.where(keep, rows, 0))[keep]
    tf = np.concatenate([np.asarray(bm25.tf)] * copies)[keep]
    order = np.argsort(keys, kind="stable")  # postings grouped by term, rows ascending
    keys, tf = keys[order], tf[order]
    terms, rows = np.divmod(keys, size)
    starts = np.concatenate([[0], np.cumsum(np.bincount(terms, minlength=len(bm25.vocab)))])
    np.save(folder / STARTS, starts.astype(np.int64), allow_pickle=False)
    np.save(folder / ROWS, rows.astype(np.int32), allow_pickle=False)
    np.save(folder / FREQUENCIES, tf.astype(np.int32), allow_pickle=False)
    np.save(folder / LENGTHS, np.concatenate([np.asarray(bm25.lengths)] * copies)[:size], allow_pickle=False)
    params = json.loads((folder / PARAMS).read_text(encoding="utf-8"))
    (folder / PARAMS).write_text(json.dumps({**params, "num_docs": size}), encoding="utf-8")


def questions(folder: Path, count: int) -> list[str]:
    path = folder / "queries.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return texts[:count]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def _tiled_already(folder: Path, size: int) -> bool:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["passage_count"] == size
    except (OSError, ValueError, KeyError):
        return False


def cold_ask(index_dir: Path, question: str, runs: int = 3) -> float:
    """Median wall seconds of `qa ask` in a new process (the index read from the page cache)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "qa.cli", "ask", question, "--index-dir", str(index_dir)],
                       check=True, capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def served(index_dir: Path, asked: list[str], k: int) -> tuple[dict, dict]:
    """A started `qa serve`'s RSS (anonymous and file-backed, MB) after answering, and HTTP p50/p99 per mode."""
    process, url, log = start_server(index_dir, None, timeout=300)
    try:
        with httpx.Client(timeout=60) as client:
            client.post(f"{url}/ask", json={"question": "warm up", "k": 1}).raise_for_status()
            figures = {}
            for mode in MODES:
                latencies = []
                for question in asked:
                    started = time.perf_counter()
                    client.post(f"{url}/ask", json={"question": question, "k": k, "mode": mode}).raise_for_status()
                    latencies.append((time.perf_counter() - started) * 1000)
                figures[mode] = (statistics.median(latencies), percentile(latencies, 99))
        status = dict(line.split(":", 1) for line in Path(f"/proc/{process.pid}/status").read_text().splitlines())
        memory = {key: int(status[key].split()[0]) / 1024 for key in ("VmRSS", "RssAnon", "RssFile", "VmHWM")}
        return memory, figures
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.unlink(missing_ok=True)


def timed(retriever: Retriever, asked: list[str], k: int, mode: str, rerank: str | None = None,
          clock=time.perf_counter) -> tuple[float, float]:
    """In-process p50/p99 ms of asking each question alone (with the second stage `rerank`, if any), by
    `clock` (time.process_time: the CPU time of all the process's threads, which a busy machine inflates less)."""
    latencies = []
    for question in asked:
        started = clock()
        retriever.ask(question, k, mode, rerank=rerank)
        latencies.append((clock() - started) * 1000)
    return statistics.median(latencies), percentile(latencies, 99)


def over_edge(folder: Path, edge: Path, embedder, asked: list[str], k: int) -> dict:
    """The tiled index copied into a Qdrant collection on the edge engine (qdrant-edge-py: Qdrant's Rust
    shard in this process; `qa index --store qdrant --from-index`, nothing embedded): upsert time, and
    in-process p50/p99 per mode over it."""
    shutil.rmtree(edge, ignore_errors=True)
    started = time.perf_counter()
    qdrant_sync.copy_index(load_index(folder), f"edge:{edge}", "tiled")
    row = {"edge upsert s": time.perf_counter() - started}
    store = QdrantStore.open(f"edge:{edge}", "tiled")
    try:
        retriever = Retriever(store, embedder)
        retriever.ask("warm up", 1)
        for mode in MODES:
            row[f"edge {mode} p50/p99 ms"] = timed(retriever, asked, k, mode)
    finally:
        store.close()
    row["edge disk MB"] = sum(p.stat().st_size for p in edge.rglob("*") if p.is_file()) / 2**20
    return row


def disk_mb(folder: Path, leave_out: str | None) -> float:
    """The index folder's size, less the ONNX model (a hard link to the one export per model)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.name != leave_out) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--index", type=Path, help="a real index to tile (default: the msmarco-5k one)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/qa-bench-scale"), help="where the tiled indexes go")
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--no-serve", action="store_true", help="skip cold qa ask and qa serve")
    parser.add_argument("--reuse", action="store_true", help="keep a tiled index of the size already in --work")
    parser.add_argument("--store", choices=["local", "qdrant"], default="local", help="qdrant: also copy each "
                        "tiled index into a collection on the edge engine and measure it beside the local store")
    parser.add_argument("--rerank", choices=["late"], help="also time hybrid with this second stage "
                        "(search/rerank.py), alternating with plain hybrid, 3 rounds each")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    source = args.index or default_index()
    base = load_index(source)
    embedder = load_embedder(None, kept=kept_onnx(source))
    asked = questions(ROOT.parent / "shared" / "benchmarks" / "msmarco-5k", args.questions)
    rng = np.random.default_rng(7)
    onnx_file = (base.manifest.get("onnx") or {}).get("file")
    print(f"tiled from {source.name} ({len(base.passages)} passages), {len(asked)} questions, k={args.k}\n")
    rows = []
    for size in args.sizes:
        folder = args.work / f"{size}"
        started = time.perf_counter()
        if not (args.reuse and _tiled_already(folder, size)):
            write_tiled(base, size, folder, rng)
        written = time.perf_counter() - started
        row = {"size": size, "disk MB": disk_mb(folder, onnx_file), "tiled in s": written}
        started = time.perf_counter()
        retriever = Retriever(load_index(folder), embedder)
        row["load s"] = time.perf_counter() - started
        retriever.ask("warm up", 1)
        started = time.perf_counter()
        retriever.ask("how many people live there", 1)  # the first number question (a cache fills)
        row["first how-many ms"] = (time.perf_counter() - started) * 1000
        index = retriever.store.index
        ann = index.ann
        if ann is not None:  # recall@10 of the ANN first pass against exact search, on the real questions
            query_vectors = np.asarray(embedder.encode(asked), dtype=np.float32)
            exact = [set(np.argsort(-(index.vectors() @ v))[:10].tolist()) for v in query_vectors]
            found = ann.search(query_vectors, 10)[0]
            row["ANN recall@10"] = float(np.mean([len(e & set(f.tolist())) / 10 for e, f in zip(exact, found)]))
        variants = [(mode, local.EXACT_UP_TO, ann) for mode in MODES]
        if ann is not None:  # the same run with an exact first pass (every passage's cosine)
            variants.append(("hybrid, exact first pass", local.EXACT_UP_TO, None))
        if local.EXACT_UP_TO < size and ann is None:  # every passage scored, as below the threshold (with
            # an ANN index its flat vectors are not copied aligned, and that path is not what it serves)
            variants.append(("hybrid, every passage scored", size, None))
        for mode, exact_up_to, first_pass in variants:
            local.EXACT_UP_TO, saved = exact_up_to, local.EXACT_UP_TO
            index.ann = first_pass
            row[f"{mode} p50/p99 ms"] = timed(retriever, asked, args.k, mode.split(",")[0])
            local.EXACT_UP_TO, index.ann = saved, ann
        if args.rerank:  # on and off alternating, so a busy machine's drift falls on both alike
            rounds = [(timed(retriever, asked, args.k, "hybrid"), timed(retriever, asked, args.k, "hybrid", args.rerank))
                      for _ in range(3)]
            row["hybrid p50 ms (3 rounds)"] = [round(off[0], 1) for off, _ in rounds]
            row[f"hybrid+{args.rerank} p50 ms (3 rounds)"] = [round(on[0], 1) for _, on in rounds]
            cpu = [(timed(retriever, asked, args.k, "hybrid", clock=time.process_time),
                    timed(retriever, asked, args.k, "hybrid", args.rerank, clock=time.process_time)) for _ in range(3)]
            row["hybrid CPU p50 ms (3 rounds)"] = [round(off[0], 1) for off, _ in cpu]
            row[f"hybrid+{args.rerank} CPU p50 ms (3 rounds)"] = [round(on[0], 1) for _, on in cpu]
        row["in-process RSS MB"] = rss_mb()
        del retriever, index, ann
        if args.store == "qdrant":
            row.update(over_edge(folder, args.work / f"edge-{size}", embedder, asked, args.k))
        if not args.no_serve:
            row["cold qa ask s"] = cold_ask(folder, asked[0])
            memory, http = served(folder, asked, args.k)
            row.update({f"serve {key} MB": value for key, value in memory.items()})
            row.update({f"HTTP {mode} p50/p99 ms": value for mode, value in http.items()})
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    keys = list(dict.fromkeys(key for row in rows for key in row))
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(_shown(row.get(key)) for key in keys) + " |")
    print(f"\npeak RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def _shown(value) -> str:
    if isinstance(value, tuple):
        return " / ".join(f"{v:.1f}" for v in value)
    if isinstance(value, float):
        return f"{value:.2f}" if value < 10 else f"{value:,.0f}"
    return "" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


if __name__ == "__main__":
    main()
