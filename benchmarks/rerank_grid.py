"""The second stage's fusion grid (eval/README.md, "A second stage (issue #35)"): hybrid+late Hit@1/Hit@5/MRR@10 per variant.

    PYTHONPATH=src python benchmarks/rerank_grid.py mixed=/tmp/rerank/mixed manuals=/tmp/rerank/manuals \\
        --grid replace:0 sum:0.1 sum:0.2 norm:0.5 rrf:1 --depths 20 30

Each NAME=INDEX_DIR is eval/NAME/questions.jsonl (hand=eval/questions.jsonl) over that index. The same
`Retriever.search` as `qa eval` (k=10, no latency), with search/rerank.py's `fuse` swapped for each
variant and each passage's token vectors kept between variants (the grid would otherwise embed them
again for every one): sum:W is first + W * minmax(MaxSim) (what ships), norm:W minmax(first) + W *
minmax(MaxSim), rrf:W 1/(60 + first rank) + W/(60 + MaxSim rank), replace MaxSim alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from qa import evaluation  # noqa: E402
from qa.evaluation import evaluate_questions, load_questions, split_run  # noqa: E402
from qa.search import rerank  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.wiring import open_retriever  # noqa: E402


def minmax(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    span = x.max() - x.min()
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def variant(kind: str, weight: float):
    """A `fuse` replacement: the top rows scored by `kind`, the rest kept below them as rerank.fuse does."""
    def fuse(first, second, top, _weight):
        first = np.asarray(first, dtype=np.float64)
        if kind == "sum":
            new = first[top] + weight * minmax(second)
        elif kind == "norm":
            new = minmax(first[top]) + weight * minmax(second)
        elif kind == "rrf":
            ranks = np.empty(len(top))
            ranks[np.argsort(-np.asarray(second), kind="stable")] = np.arange(len(top))
            new = 1 / (60 + np.arange(len(top))) + weight / (60 + ranks)
        else:
            new = np.asarray(second, dtype=np.float64)
        return _placed(first, new, top)
    return fuse


def _placed(first: np.ndarray, new: np.ndarray, top: np.ndarray) -> np.ndarray:
    """`first` with the `top` rows' scores set to `new` and the others shifted below them."""
    out = first.copy()
    rest = np.ones(len(out), dtype=bool)
    rest[top] = False
    rest &= np.isfinite(out)
    if rest.any():
        out[rest] -= out[rest].max() - new.min() + 1e-3
    out[top] = new
    return out.astype(np.float32)


def remembered(encode_tokens):
    """`encode_tokens` that runs each distinct text once per process."""
    memo: dict[str, tuple] = {}

    def encode(texts):
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            vectors, ids = encode_tokens(missing)
            memo.update({t: (v, i) for t, v, i in zip(missing, vectors, ids)})
        return [memo[t][0] for t in texts], [memo[t][1] for t in texts]

    return encode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sets", nargs="+", help="NAME=INDEX_DIR")
    parser.add_argument("--grid", nargs="+", default=["replace:0", "sum:0.2"])
    parser.add_argument("--depths", type=int, nargs="+", default=[rerank.DEPTH])
    args = parser.parse_args()
    evaluation._timed_run = lambda r, texts, k, run: (r.search(texts, k, *split_run(run)), {})  # no latency
    for named in args.sets:
        name, index_dir = named.split("=", 1)
        questions = load_questions(ROOT / ("eval/questions.jsonl" if name == "hand" else f"eval/{name}/questions.jsonl"))
        retriever = open_retriever(Settings(index_dir=Path(index_dir)))
        retriever.embedder.encode_tokens = remembered(retriever.embedder.encode_tokens)
        base = evaluate_questions(retriever, questions, 10, ["hybrid"])["runs"]["hybrid"]["metrics"]
        print(name, "hybrid", base["hit_rate@1"], base["hit_rate@5"], base["mrr@10"], flush=True)
        for depth in args.depths:
            retriever.second_stage.depth = depth
            for kind, weight in (g.split(":") for g in args.grid):
                rerank.fuse = variant(kind, float(weight))
                m = evaluate_questions(retriever, questions, 10, ["hybrid+late"])["runs"]["hybrid+late"]["metrics"]
                print(name, depth, kind, weight, m["hit_rate@1"], m["hit_rate@5"], m["mrr@10"], flush=True)


if __name__ == "__main__":
    main()
