"""Indexing on Ray beside the local build, in one run: passages per second and the cost of each stage.

    nice -n 10 .venv/bin/python benchmarks/bench_ray.py [--corpus eval/mixed/corpus ...] [--rounds 3] [--json]

Four ways, each a fresh process building a fresh index of the corpus (nothing reused), taken in turn
in every round (so a busy spell of a shared machine hits each alike), the median of the rounds shown:

- local, 1 core: the local build pinned to one core (`sched_setaffinity`, one OpenVINO thread);
- local, all cores: the local build as `qa index` runs it;
- ray, 1 worker: a Ray cluster of one single-CPU node (`ray.cluster_utils.Cluster`), `build_on_cluster`;
- ray, 2 workers: a head and a second node, one CPU each (two raylets: what two machines would be).

Passages/s is the corpus's passages over the build's seconds (the cluster's start is not in it: a
cluster outlives many builds; joining it, shipping the qa package and starting the actors are).
Stages: read = listing nothing but reading and cutting the files (local: timed apart, the same
calls; ray: the tasks' wall), embed = the build's own embedding seconds (the manifest's, actors'
start included), rest = the build less both (planning, hashing, BM25, writing, sealing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WAYS = ("local-1", "local-all", "ray-1", "ray-2")


def one(way: str, corpus: list[Path], index_dir: Path) -> dict:
    """Build once the `way` says; its figures."""
    sys.path.insert(0, str(ROOT / "src"))
    from qa.ingest.files import doc_name, find_files

    out: dict = {"way": way}
    if way.startswith("local"):
        from qa.embed import load_embedder
        from qa.store.local.build import build_index
        from qa.store.corpus import read_and_split

        threads = None
        if way == "local-1":
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
            threads = 1
        started = time.perf_counter()
        for root, file in find_files(corpus):
            read_and_split(file, doc_name(root, file), None, {})
        out["read"] = time.perf_counter() - started
        embedder = load_embedder(lazy=True, threads=threads)
        started = time.perf_counter()
        index = build_index(corpus, index_dir, embedder, reuse=False)
        out["build"] = time.perf_counter() - started
    else:
        from ray.cluster_utils import Cluster

        from qa.scaleout import build_on_cluster

        started = time.perf_counter()
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        for _ in range(int(way.split("-")[1]) - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        out["cluster_start"] = time.perf_counter() - started
        try:
            said: list[str] = []
            started = time.perf_counter()
            index, nodes = build_on_cluster(corpus, index_dir, cluster.address, device="cpu", reuse=False,
                                            warn=said.append)
            out["build"] = time.perf_counter() - started
        finally:
            cluster.shutdown()
        out["read"] = next(float(m.split(" in ")[1].split(" s")[0]) for m in said if m.startswith("read "))
        out["nodes"] = nodes
    out["passages"] = len(index.passages)
    out["texts"] = index.manifest["texts"]["embedded"]
    out["embed"] = index.manifest["texts"]["embedding_seconds"]
    out["encoder"] = index.manifest["passage_encoder"]
    return out


def run(way: str, corpus: list[Path]) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as folder:
        done = subprocess.run([sys.executable, __file__, "--one", way, "--corpus", *map(str, corpus), "--index-dir",
                               str(Path(folder) / "index")], capture_output=True, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise SystemExit(f"{way} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, nargs="+", default=[ROOT / "eval" / "mixed" / "corpus"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ways", nargs="+", default=list(WAYS), choices=WAYS)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("--index-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, [c.resolve() for c in args.corpus], args.index_dir)))
        return
    runs: dict[str, list[dict]] = {way: [] for way in args.ways}
    for number in range(args.rounds):
        for way in args.ways:
            runs[way].append(run(way, [c.resolve() for c in args.corpus]))
            print(f"round {number + 1} {way}: {runs[way][-1]['build']:.1f} s", file=sys.stderr)
    rows = {way: summary(done) for way, done in runs.items()}
    if args.json:
        print(json.dumps({"rows": rows, "runs": runs}))
        return
    print(f"corpus {' '.join(map(str, args.corpus))} ({rows[args.ways[0]]['passages']:,} passages, {rows[args.ways[0]]['texts']:,} "
          f"texts embedded), median of {args.rounds} rounds, encoder {runs[args.ways[0]][0]['encoder']}\n")
    print("| way | build s | passages/s | texts/s in embed | read s | embed s | rest s | cluster start s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for way, row in rows.items():
        print(f"| {way} | {row['build']:.1f} | {row['passages_per_s']:.1f} | {row['texts_per_embed_s']:.0f} | "
              f"{row['read']:.2f} | {row['embed']:.1f} | {row['rest']:.1f} | {row.get('cluster_start', 0):.1f} |")
    if "ray-1" in rows and "ray-2" in rows:
        print(f"\nray 2 workers / 1 worker: {rows['ray-2']['passages_per_s'] / rows['ray-1']['passages_per_s']:.2f}x")
    if "ray-1" in rows and "local-1" in rows:
        print(f"ray 1 worker / local 1 core: {rows['ray-1']['passages_per_s'] / rows['local-1']['passages_per_s']:.2f}x")


def summary(done: list[dict]) -> dict:
    """Medians over rounds of each figure (a ratio's median is the median of the ratios per round)."""
    row = {key: statistics.median(d[key] for d in done) for key in ("build", "read", "embed")}
    row["passages"], row["texts"] = done[0]["passages"], done[0]["texts"]
    row["passages_per_s"] = statistics.median(d["passages"] / d["build"] for d in done)
    row["texts_per_embed_s"] = statistics.median(d["texts"] / d["embed"] for d in done)
    row["rest"] = statistics.median(d["build"] - d["embed"] - d["read"] for d in done)
    if "cluster_start" in done[0]:
        row["cluster_start"] = statistics.median(d["cluster_start"] for d in done)
    return row


if __name__ == "__main__":
    main()
