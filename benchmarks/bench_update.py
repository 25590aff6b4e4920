"""Updating an index after one file changes: edit, add and delete one file, each beside the full build's time.

    .venv/bin/python benchmarks/bench_update.py --files 112 --mb 7
    .venv/bin/python benchmarks/bench_update.py --files 1000 --mb 46 --seed-vectors   # ~100k passages

A corpus of FILES prose files (synthesized as in bench_build.py, MB in all) is indexed once from
scratch, then nothing is changed, one file is edited (a paragraph appended), one added and one
deleted (each --repeat times, another file each time: the median run is shown), each followed by
`qa index` in a fresh process; every figure is that whole command,
process start and model loading included; "of which embedding" is the time the build spent
embedding its new texts (the model's session, made on the first encode, included), as its manifest
records it. Last, the median in-process hybrid search over eval/questions.jsonl's questions on the
index after the full build and after the updates (which leave a delta on an index large enough
for one: store/local/build_delta.py), in the same run.

With --seed-vectors the first build embeds nothing: every text of the corpus is given a random
unit vector, written beforehand where a killed build keeps its vectors (`.index.partial/`), so the
first build resumes from them. The updates embed their new text for real. This measures the
update path at a size whose embedding would take an hour here; rankings are meaningless then.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_build import synthesize  # noqa: E402


def qa_index(corpus: Path, index_dir: Path) -> tuple[float, dict]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    os.sync()  # the previous step's writes reach the disk first: each step pays only for its own
    time.sleep(1)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "qa.cli", "index", str(corpus), "--index-dir", str(index_dir),
                           "--json"], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"qa index failed:\n{done.stderr}")
    return seconds, json.loads(done.stdout)


SEARCH = """
import json, statistics, sys, time
from pathlib import Path
from qa.embed import load_embedder
from qa.search.retrieval import Retriever
from qa.store.local.index import load_index
index = load_index(Path(sys.argv[1]))
retriever = Retriever(index, load_embedder(None))
lines = Path(sys.argv[2]).read_text(encoding="utf-8").splitlines()
questions = [json.loads(line)["question"] for line in lines if line.strip()]
for question in questions[:5]:
    retriever.ask(question, 10, "hybrid")  # warm: the pages the first searches touch
seconds = []
for question in questions:
    started = time.perf_counter()
    retriever.ask(question, 10, "hybrid")
    seconds.append(time.perf_counter() - started)
print(json.dumps({"p50_ms": 1000 * statistics.median(seconds), "delta": (index.manifest.get("delta") or {}).get("passage_count", 0)}))
"""


def search_p50(index_dir: Path) -> dict:
    """The median in-process hybrid `ask` (top 10) over eval/questions.jsonl's questions on the index."""
    questions = Path(__file__).resolve().parent.parent / "eval" / "questions.jsonl"
    done = subprocess.run([sys.executable, "-c", SEARCH, str(index_dir), str(questions)], capture_output=True,
                          text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise SystemExit(f"search failed:\n{done.stderr}")
    return json.loads(done.stdout)


def seed_vectors(corpus: Path, index_dir: Path) -> int:
    """Random unit vectors for every text a build of `corpus` embeds, kept as a killed build keeps them."""
    from qa.embed import load_embedder
    from qa.ingest.files import read_documents
    from qa.ingest.passages import sentence_spans, split_documents
    from qa.store.local.vector_reuse import PartialVectors, sentence_texts, text_keys

    passages = split_documents(read_documents([corpus]))
    spans = np.array([(row, a, b) for row, p in enumerate(passages) for a, b in sentence_spans(p)]).reshape(-1, 3)
    texts = [p.embedding_text() for p in passages] + sentence_texts(passages, spans)
    embedder = load_embedder(None)
    partial = PartialVectors(index_dir, {"model": embedder.model,
                                         "encoder": getattr(embedder, "passage_encoder", type(embedder).__name__)})
    rng = np.random.default_rng(0)
    for start in range(0, len(texts), 50_000):
        vectors = rng.standard_normal((len(texts[start : start + 50_000]), embedder.dimension)).astype(np.float32)
        partial.save(text_keys(texts[start : start + 50_000]), vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    return len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=112)
    parser.add_argument("--mb", type=float, default=7.0, help="text in all")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each step (another file each time); "
                        "the median is shown")
    parser.add_argument("--seed-vectors", action="store_true", help="the first build embeds nothing (see above)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qa-bench-update-") as tmp:
        corpus, index_dir = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus.mkdir()
        for n in range(args.files):
            synthesize(corpus / f"chapter-{n:03d}.txt", args.mb / args.files, seed=n)
        if args.seed_vectors:
            print(f"seeded {seed_vectors(corpus, index_dir):,} random vectors", flush=True)
        full, report = qa_index(corpus, index_dir)
        built_at = report["built_at"]
        print(f"| step | passages | texts embedded | texts reused | seconds | of which embedding | "
              f"share of the full build |\n|---|---|---|---|---|---|---|\n"
              f"| full build | {report['passage_count']} | {report['texts']['embedded']} | "
              f"{report['texts']['reused']} | {full:.1f} | {report['texts'].get('embedding_seconds', 0):.1f} | 100% |",
              flush=True)
        before = search_p50(index_dir)
        steps = [
            ("nothing changed", lambda n: None),
            ("edit one file", lambda n: (corpus / f"chapter-{n:03d}.txt").open("a").write(
                f"\nA paragraph added today ({n}), about the river crossing at night.\n")),
            ("add one file", lambda n: synthesize(corpus / f"added-{n}.txt", args.mb / args.files, seed=10_000 + n)),
            ("delete one file", lambda n: (corpus / f"chapter-{args.files - 1 - n:03d}.txt").unlink()),
        ]
        for name, change in steps:  # each step `--repeat` times, on another file each time: the median
            runs = []
            for n in range(args.repeat):
                change(n)
                seconds, report = qa_index(corpus, index_dir)
                runs.append((seconds, report["texts"].get("embedding_seconds", 0), report))
            seconds, embedding, report = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
            texts = report["texts"]
            if report["built_at"] == built_at:  # the index was current: left as it was, nothing written
                texts, embedding = {"embedded": 0, "reused": "(unchanged)"}, 0
            built_at = report["built_at"]
            print(f"| {name} | {report['passage_count']} | {texts['embedded']} | {texts['reused']} | {seconds:.2f} | "
                  f"{embedding:.2f} | {100 * seconds / full:.1f}% |", flush=True)
        after = search_p50(index_dir)
        print(f"\nhybrid ask p50 (in process, {len(Path(__file__).parent.parent.joinpath('eval', 'questions.jsonl').read_text().splitlines())} "
              f"questions): after the full build {before['p50_ms']:.1f} ms; after the updates "
              f"{after['p50_ms']:.1f} ms (a delta of {after['delta']:,} passages) = "
              f"{after['p50_ms'] / before['p50_ms']:.2f}×", flush=True)

if __name__ == "__main__":
    main()
