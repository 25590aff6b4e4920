"""Ablation: the default hybrid with one ranking component removed at a time, and with one abstention
rule switched off at a time, on every question set (the hand-written set, a BEIR folder, the mixed set,
the unseen set).

    PYTHONPATH=src HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ablation.py \
        [--index-dir index] [--mixed-index /tmp/ablation-mixed-index] [--unseen-index /tmp/ablation-unseen-index] \
        [--beir ../shared/benchmarks/msmarco-5k] [--beir-index-dir DIR] [--json OUT]

Build the indexes first: `qa index` (index/), `qa index eval/mixed/corpus --index-dir DIR`,
`qa index eval/unseen/corpus --index-dir DIR`; the BEIR index is the one `qa eval --beir` builds and
reuses beside --beir-index-dir (default: --index-dir). Each index and the embedder are
loaded once; every figure comes from evaluation.py (`evaluate_questions`, `evaluate_beir`), exactly as
`qa eval` computes it. Components are switched off by patching module attributes for one variant at a
time (restored after it): nothing shipped changes.

Where a tuned constant is a function's default argument (`fuse(weight=HYBRID_WEIGHT)`,
`rocchio(weight=FEEDBACK_WEIGHT)`, `diversify(margin=DIVERSITY_MARGIN)`), the value was bound when the
function was defined, so setting the module constant changes nothing: those variants patch the function
instead. Each variant's result lists are fingerprinted, and a ranking variant that ranks every set exactly
as the default does is reported, so a patch that does not take is seen.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import sys
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

from qa import evaluation
from qa.config import Settings
from qa.embed import load_embedder
from qa.search import answerability, scoring
from qa.search import retrieval
from qa.search.retrieval import Retriever
from qa.store.index import kept_onnx, load_index

HAND = Path("eval/questions.jsonl")
MIXED = Path("eval/mixed/questions.jsonl")
UNSEEN = Path("eval/unseen/questions.jsonl")


def _first_pass_dense_only(search_hybrid):
    """`Retriever._search_hybrid` whose first `scoring.fuse` (the first pass, before feedback) has
    HYBRID_WEIGHT 1.0, i.e. passage cosine alone; the second fusion keeps its weight."""

    @functools.wraps(search_hybrid)
    def patched(self, query_vectors, found):
        fuse, weights = scoring.fuse, []

        def fuse_first_dense(d, l, weight=scoring.HYBRID_WEIGHT):
            weights.append(weight)
            return fuse(d, l, 1.0 if len(weights) == 1 else weight)

        with mock.patch.object(scoring, "fuse", fuse_first_dense):
            scores = search_hybrid(self, query_vectors, found)
        assert len(weights) == 3, (f"_search_hybrid fused {len(weights)} times, expected 3 (first pass, final "
                                   f"as ranked, final by each passage's own relevance)")
        return scores

    return patched


# (name, mode, patches): each patch is (object, attribute, value), applied for that variant only.
RANKING = [
    ("default hybrid", "hybrid", []),
    ("plain dense (mode)", "dense", []),
    ("plain bm25 (mode)", "bm25", []),
    ("no first-pass fusion (first pass dense only)", "hybrid",
     [(Retriever, "_search_hybrid", _first_pass_dense_only(Retriever._search_hybrid))]),
    ("no Rocchio feedback (FEEDBACK_WEIGHT 0)", "hybrid",
     [(scoring, "rocchio", functools.partial(scoring.rocchio, weight=0.0))]),
    ("no sentence score (PASSAGE_WEIGHT 1.0)", "hybrid", [(scoring, "PASSAGE_WEIGHT", 1.0)]),
    ("no neighbours for short passages (CONTEXT_WEIGHT 0)", "hybrid",
     [(scoring, "with_context", functools.partial(scoring.with_context, weight=0.0))]),
    ("no answer-type bonus (ANSWER_TYPE_BONUS 0)", "hybrid", [(scoring, "ANSWER_TYPE_BONUS", 0.0)]),
    ("no role bonus (ROLE_BONUS 0)", "hybrid", [(scoring, "ROLE_BONUS", 0.0)]),
    ("no who answer type (WHO_BONUS 0)", "hybrid", [(scoring, "WHO_BONUS", 0.0)]),
    ("BM25 searches the question words too", "hybrid", [(retrieval, "lexical_query", lambda question: question)]),
    ("no section diversification (DIVERSITY_MARGIN 0)", "hybrid",
     [(scoring, "diversify", functools.partial(scoring.diversify, margin=0.0))]),
]

# is_answerable looks its rules up in answerability's namespace when called, so patching the module's
# functions (and OFF_TOPIC_COSINE) switches one rule off; the ranking does not read them.
RULES = [
    ("off-topic (closest cosine < 0.2)", [(answerability, "OFF_TOPIC_COSINE", -math.inf)]),
    ("unknown multi-word name", [(answerability, "unknown_names", lambda question, knows_word: [])]),
    ("unknown role / attribute / counted word", [(answerability, "unknown_focus", lambda *args: None)]),
    ("role not stated with its owner", [(answerability, "unstated_role", lambda *args: None)]),
    ("year / number / money absent from best 3", [(answerability, "missing_answer_type", lambda *args: None)]),
    ("ordinal mismatch (first, second, ...)", [(answerability, "ordinal_mismatch", lambda *args: None)]),
]


class Fingerprint:
    """Hashes of every answer `Retriever.search` returns while active: the ranked ids, and the ids
    with their scores and answerable flags, so a variant that changes nothing is told apart."""

    def __init__(self) -> None:
        self.ranks, self.full = hashlib.sha1(), hashlib.sha1()

    def wrap(self, search):
        @functools.wraps(search)
        def recorded(retriever, questions, k=5, mode=None):
            answers = search(retriever, questions, k, mode)
            for a in answers:
                ids = [h.id for h in a.passages]
                self.ranks.update(repr(ids).encode())
                self.full.update(repr((ids, [h.score for h in a.passages], a.answerable)).encode())
            return answers

        return recorded

    def digest(self) -> tuple[str, str]:
        return self.ranks.hexdigest()[:12], self.full.hexdigest()[:12]


def _abstention(run: dict) -> dict:
    a = run["abstention"]
    return {"abstained": a["abstained"], "unanswerable": a["unanswerable"], "false": a["false_abstentions"],
            "answered_unanswerable": a["answered_unanswerable"], "abstained_answerable": a["abstained_answerable"]}


def run_variant(sets: dict, mode: str, patches: list) -> dict:
    """Every set's figures for one variant, with the patches applied (and undone after)."""
    out = {}
    with ExitStack() as stack:
        for target, attribute, value in patches:
            stack.enter_context(mock.patch.object(target, attribute, value))
        for name, spec in sets.items():
            fingerprint = Fingerprint()
            with mock.patch.object(Retriever, "search", fingerprint.wrap(Retriever.search)):
                if spec["kind"] == "beir":
                    report = evaluation.evaluate_beir(spec["folder"], Settings(index_dir=spec["index_dir"]), modes=[mode],
                                                      embedder=spec["embedder"])
                else:
                    report = evaluation.evaluate_questions(spec["retriever"], spec["questions"], 10, [mode])
            run = report["runs"][mode]
            out[name] = {"metrics": run["metrics"], "abstention": _abstention(run),
                         "answerable": report.get("answerable", report.get("queries")),
                         "misses": [m["id"] for m in run.get("misses", [])],
                         "fingerprint": fingerprint.digest()}
    return out


def load_sets(args) -> dict:
    """The four sets, each index and the embedder loaded once (the BEIR index through a memo of
    `evaluation.beir_index`, which `evaluate_beir` calls on every run)."""
    embedder = load_embedder(None, kept=kept_onnx(args.index_dir))
    sets = {
        "hand": {"kind": "questions", "questions": evaluation.load_questions(HAND),
                 "retriever": Retriever(load_index(args.index_dir), embedder)},
        "mixed": {"kind": "questions", "questions": evaluation.load_questions(MIXED),
                  "retriever": Retriever(load_index(args.mixed_index), embedder)},
        "unseen": {"kind": "questions", "questions": evaluation.load_questions(UNSEEN),
                   "retriever": Retriever(load_index(args.unseen_index), embedder)},
    }
    if args.beir:
        sets[args.beir.name] = {"kind": "beir", "folder": args.beir, "embedder": embedder,
                                "index_dir": args.beir_index_dir or args.index_dir}
    order = ["hand", *(n for n in sets if n not in ("hand", "mixed", "unseen")), "mixed", "unseen"]
    return {name: sets[name] for name in order}  # hand, BEIR, mixed, unseen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, default=Path("index"), help="the bundled corpus's index")
    parser.add_argument("--mixed-index", type=Path, default=Path("/tmp/ablation-mixed-index"),
                        help="an index of eval/mixed/corpus/")
    parser.add_argument("--unseen-index", type=Path, default=Path("/tmp/ablation-unseen-index"),
                        help="an index of eval/unseen/corpus/")
    parser.add_argument("--beir", type=Path, default=Path("../shared/benchmarks/msmarco-5k"),
                        help="a BEIR folder (empty: skip)")
    parser.add_argument("--beir-index-dir", type=Path, help="the BEIR index is built and reused beside this "
                        "(default: --index-dir)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)
    args.beir = args.beir if str(args.beir) else None

    sets = load_sets(args)
    memo = {}
    beir_index = evaluation.beir_index

    def beir_index_once(folder, target, *rest, **kwargs):
        if target not in memo:
            memo[target] = beir_index(folder, target, *rest, **kwargs)
        return memo[target]

    results = {"sets": {name: spec["kind"] for name, spec in sets.items()}, "ranking": {}, "rules": {}}
    with mock.patch.object(evaluation, "beir_index", beir_index_once):
        for name, mode, patches in RANKING:
            print(f"ranking: {name}", file=sys.stderr, flush=True)
            results["ranking"][name] = run_variant(sets, mode, patches)
        for name, patches in RULES:
            print(f"rule off: {name}", file=sys.stderr, flush=True)
            results["rules"][name] = run_variant(sets, "hybrid", patches)
    _check(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(render(results))
    return 0


def _check(results: dict) -> None:
    """Warn of a ranking variant that ranks every set as the default does, and of a rule variant that
    changes the ranking (it should change only the answerable flags)."""
    default = results["ranking"]["default hybrid"]
    for name, figures in list(results["ranking"].items())[1:]:  # a mode differs by design, but is checked too
        if all(figures[s]["fingerprint"][0] == default[s]["fingerprint"][0] for s in default):
            same = all(figures[s]["fingerprint"][1] == default[s]["fingerprint"][1] for s in default)
            print(f"warning: {name!r} ranks every set exactly as the default"
                  f"{' (scores too: the patch did not take)' if same else ' (scores differ)'}", file=sys.stderr)
    for name, figures in results["rules"].items():
        for s in default:
            if figures[s]["fingerprint"][0] != default[s]["fingerprint"][0]:
                print(f"warning: rule variant {name!r} changed the ranking on {s}", file=sys.stderr)


def render(results: dict) -> str:
    """The two markdown tables of eval/README.md (ranking variants; abstention with one rule off), then
    Hit@5, the ranking variants' abstention and which questions change."""
    sets = results["sets"]
    default = results["ranking"]["default hybrid"]
    columns = {s: ["ndcg@10", "mrr@10"] if kind == "beir" else ["hit_rate@1", "mrr@10", "ndcg@10"]
               for s, kind in sets.items()}
    labels = {"hit_rate@1": "Hit@1", "hit_rate@5": "Hit@5", "mrr@10": "MRR@10", "ndcg@10": "nDCG@10"}
    header = ["variant", *(f"{s} {labels[m]}" for s, ms in columns.items() for m in ms)]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, figures in results["ranking"].items():
        cells = [name]
        for s, ms in columns.items():
            for m in ms:
                value = figures[s]["metrics"][m]
                cells.append(f"{value:.3f}" + _questions(value, default[s]["metrics"][m], figures[s], m))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| rule switched off | " + " | ".join(f"{s} abstained (false)" for s in sets) + " |",
              "|" + " --- |" * (len(sets) + 1)]
    for name, figures in [("none (default)", default), *results["rules"].items()]:
        lines.append("| " + " | ".join([name, *(_abstained(figures[s]["abstention"]) for s in sets)]) + " |")
    lines += ["", "Hit@5 (question sets) and abstention of the ranking variants:"]
    for name, figures in results["ranking"].items():
        lines.append(f"- {name}: " + ", ".join(
            (f"{s} Hit@5 {figures[s]['metrics']['hit_rate@5']:.3f}, " if kind != "beir" else f"{s} ")
            + _abstained(figures[s]["abstention"]) for s, kind in sets.items()))
    lines += ["", "Questions whose answer changes with one rule off (vs the default):"]
    for name, figures in results["rules"].items():
        for s in sets:
            newly_answered = sorted(set(figures[s]["abstention"]["answered_unanswerable"])
                                    - set(default[s]["abstention"]["answered_unanswerable"]))
            no_longer_false = sorted(set(default[s]["abstention"]["abstained_answerable"])
                                     - set(figures[s]["abstention"]["abstained_answerable"]))
            if newly_answered or no_longer_false:
                lines.append(f"- {name}, {s}: now answered {', '.join(newly_answered) or '-'}; "
                             f"false abstention gone {', '.join(no_longer_false) or '-'}")
    lines += ["", "Top passage not relevant, by variant:"]
    for name, figures in results["ranking"].items():
        lines.append(f"- {name}: " + "; ".join(f"{s} {', '.join(figures[s]['misses']) or '-'}"
                                                for s, kind in sets.items() if kind != "beir"))
    return "\n".join(lines)


def _questions(value: float, default: float, figures: dict, metric: str) -> str:
    """Hit@1's change from the default in questions, e.g. " (-3)"; nothing for the default or no change."""
    change = round((value - default) * figures["answerable"]) if metric == "hit_rate@1" else 0
    return f" ({change:+d})" if change else ""


def _abstained(a: dict) -> str:
    return f"{a['abstained']}/{a['unanswerable']} ({a['false']})" if a["unanswerable"] else f"- ({a['false']})"


if __name__ == "__main__":
    sys.exit(main())
