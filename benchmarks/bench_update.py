"""Updating an index after one file changes: edit, add and delete one file, each beside the full build's time.

    .venv/bin/python benchmarks/bench_update.py --files 112 --mb 7

A corpus of FILES prose files (synthesized as in bench_build.py, MB in all) is indexed once from
scratch, then one file is edited (a paragraph appended), one added and one deleted, each followed by
`qa index` in a fresh process; every figure is that whole command, model loading included.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_build import synthesize  # noqa: E402


def qa_index(corpus: Path, index_dir: Path) -> tuple[float, dict]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "qa.cli", "index", str(corpus), "--index-dir", str(index_dir),
                           "--json"], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"qa index failed:\n{done.stderr}")
    return seconds, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=112)
    parser.add_argument("--mb", type=float, default=7.0, help="text in all")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qa-bench-update-") as tmp:
        corpus, index_dir = Path(tmp) / "corpus", Path(tmp) / "index"
        corpus.mkdir()
        for n in range(args.files):
            synthesize(corpus / f"chapter-{n:03d}.txt", args.mb / args.files, seed=n)
        full, report = qa_index(corpus, index_dir)
        print(f"| step | passages | texts embedded | texts reused | seconds | share of the full build |\n"
              f"|---|---|---|---|---|---|\n"
              f"| full build | {report['passage_count']} | {report['texts']['embedded']} | 0 | {full:.1f} | 100% |",
              flush=True)
        steps = [
            ("edit one file", lambda: (corpus / "chapter-000.txt").open("a").write(
                "\nA paragraph added today, about the river crossing at night.\n")),
            ("add one file", lambda: synthesize(corpus / "added.txt", args.mb / args.files, seed=10_000)),
            ("delete one file", lambda: (corpus / "chapter-001.txt").unlink()),
        ]
        for name, change in steps:
            change()
            seconds, report = qa_index(corpus, index_dir)
            texts = report["texts"]
            print(f"| {name} | {report['passage_count']} | {texts['embedded']} | {texts['reused']} | {seconds:.1f} | "
                  f"{100 * seconds / full:.1f}% |", flush=True)


if __name__ == "__main__":
    main()
