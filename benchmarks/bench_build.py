"""Indexing one big text file: MB of text per minute and the build's peak RSS, beside a baseline checkout.

    .venv/bin/python benchmarks/bench_build.py --mb 1 --mb 4 [--baseline-src ../other-checkout/src]

The file is synthesized from the bundled corpus (its paragraphs with their words shuffled, a heading
every 20 paragraphs), so it is prose-shaped and every passage is distinct. Each build runs `qa index`
in a fresh process, into a new folder (so nothing is reused); peak RSS is that process's ru_maxrss. With
--baseline-src the same file is indexed by another checkout's code in the same run, so the figures
are a ratio, not a comparison across days.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpus" / "north-korea-diplomacy.txt"


def synthesize(path: Path, megabytes: float, seed: int = 1) -> None:
    rng = random.Random(seed)
    paragraphs = [p for p in SEED.read_text(encoding="utf-8").split("\n\n") if len(p) > 200]
    out, size, n = [], 0, 0
    while size < megabytes * 1_000_000:
        words = rng.choice(paragraphs).split()
        rng.shuffle(words)
        text = " ".join(words) + "."
        if n % 20 == 0:
            text = f"Chapter {n // 20 + 1}\n\n{text}"
        out.append(text)
        size += len(text) + 2
        n += 1
    path.write_text("\n\n".join(out) + "\n", encoding="utf-8")


def build(src: Path, corpus: Path, index_dir: Path) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) and the summary line of one `qa index` by the code under `src`."""
    code = ("import resource, sys; from qa.cli import main; sys.argv = ['qa'] + sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
            "print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(code)")
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "index", str(corpus), "--index-dir", str(index_dir)],
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"qa index failed:\n{done.stderr}")
    rss = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("maxrss"))
    return seconds, rss / 1024, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, action="append", help="size of the text file (repeatable)")
    parser.add_argument("--runs", type=int, default=1, help="builds per size and code (median reported)")
    parser.add_argument("--baseline-src", type=Path, help="another checkout's src/ to index the same files")
    args = parser.parse_args()
    codes = [("this checkout", ROOT / "src")] + ([("baseline", args.baseline_src)] if args.baseline_src else [])
    print("| text | code | passages | seconds | MB of text/min | peak RSS |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="qa-bench-build-") as tmp:
        for megabytes in args.mb or [1.0]:
            corpus = Path(tmp) / f"text-{megabytes}mb"
            corpus.mkdir()
            synthesize(corpus / "book.txt", megabytes)
            for name, src in codes:
                runs = [build(src, corpus, Path(tmp) / f"index-{megabytes}-{i}-{name.split()[0]}")
                        for i in range(args.runs)]
                seconds = statistics.median(r[0] for r in runs)
                rss = statistics.median(r[1] for r in runs)
                passages = runs[0][2].split()[1]
                print(f"| {megabytes:g} MB | {name} | {passages} | {seconds:.1f} | {megabytes * 60 / seconds:.2f} | "
                      f"{rss:.0f} MB |", flush=True)


if __name__ == "__main__":
    main()
