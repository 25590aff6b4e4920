"""qa eval's figures checked against gates (`--min`, `--min-vs`) and printed as tables."""

from __future__ import annotations

from pathlib import Path

from .errors import QAError
from .evaluation import LABELS


def parse_gates(specs: list[str]) -> list[tuple[str, float]]:
    """`METRIC=VALUE` strings as (metric, value) pairs."""
    gates = []
    for spec in specs or []:
        name, sep, value = spec.partition("=")
        try:
            gates.append((name.strip().lower(), float(value)))
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise QAError(f"--min takes METRIC=VALUE (e.g. ndcg@10=0.7), not {spec!r}")
    return gates


def _metric_key(name: str, figures: dict) -> str | None:
    aliases = {v.lower(): k for k, v in LABELS.items()} | {k.lower(): k for k in figures}
    aliases |= {f"hit@{n}": f"hit_rate@{n}" for n in (1, 3, 5)}
    aliases |= {"page": "page_accuracy", "page accuracy": "page_accuracy"}
    return aliases.get(name) if aliases.get(name) in figures else None


def _gated_figures(run: dict) -> dict[str, float]:
    """A run's figures that --min can name: its metrics, plus `abstention` (the share of unanswerable
    questions abstained on) and `answered` (the share of answerable ones not abstained on)."""
    figures = dict(run["metrics"])
    abstention = run.get("abstention")
    if abstention and abstention["accuracy"] is not None:
        figures["abstention"] = abstention["accuracy"]
    if abstention and abstention["false_abstention_rate"] is not None:
        figures["answered"] = round(1 - abstention["false_abstention_rate"], 4)
    return figures


def failed_gates(report: dict, gates: list[tuple[str, float]], modes: list[str] | None = None) -> list[str]:
    """A line per figure below its gate (every mode run, or those of `modes`, is checked); a gate naming
    no figure is an error."""
    failures = []
    for name, minimum in gates:
        for mode, run in report["runs"].items():
            if modes is not None and mode not in modes:
                continue
            figures = _gated_figures(run)
            key = _metric_key(name, figures)
            if key is None:
                known = ", ".join(LABELS.get(k, k) for k in figures)
                raise QAError(f"--min: no figure named {name!r}; the figures are {known}")
            if figures[key] < minimum:
                failures.append(f"{mode} {LABELS.get(key, key)} = {figures[key]:.3f} is below {minimum:g}")
    return failures


VERSUS_METRICS = ("hit_rate@1", "mrr@10", "ndcg@10")  # what "not worse than the baseline" looks at


def failed_versus(report: dict, baseline: str, mode: str | None = None) -> list[str]:
    """A line per figure (Hit@1, MRR@10, nDCG@10, whichever the report has) on which `mode` (the default
    mode) falls more than one question's worth (1 / judged questions) below the `baseline` mode."""
    from .search.retrieval import check_mode

    mode, baseline = check_mode(mode), check_mode(baseline)
    runs = report["runs"]
    if mode not in runs or baseline not in runs:
        raise QAError(f"--min-vs {baseline} needs both {mode} and {baseline} in the run")
    judged = report.get("queries") or report.get("answerable") or 1
    slack = 1 / judged
    failures = []
    for key in VERSUS_METRICS:
        ours, theirs = runs[mode]["metrics"].get(key), runs[baseline]["metrics"].get(key)
        if ours is not None and theirs is not None and ours < theirs - slack - 1e-9:
            failures.append(f"{mode} {LABELS.get(key, key)} = {ours:.3f} is more than one question ({slack:.3f}) "
                            f"below {baseline}'s {theirs:.3f}")
    return failures


def render_report(report: dict, console) -> None:
    """The report as rich tables: one row per mode, then the questions whose top passage missed."""
    from rich import box
    from rich.table import Table

    if not console.is_terminal:
        console.width = max(console.width, 120)  # a pipe or file gets whole figures, not "0.9…"
    runs = report["runs"]
    first = next(iter(runs.values()))
    if "beir" in report:
        title = f"BEIR {Path(report['beir']).name}: {report['queries']} judged queries, {report['documents']} passages"
    else:
        title = (f"{report['evalset']}: {report['answerable']} answerable + {report['unanswerable']} "
                 f"unanswerable questions, top {report['k']}")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("mode", no_wrap=True)
    for key in first["metrics"]:
        table.add_column(LABELS.get(key, key.capitalize()), justify="right", no_wrap=True)
    table.add_column("p50 ms", justify="right", no_wrap=True)
    table.add_column("p95 ms", justify="right", no_wrap=True)
    has_abstention = any(r.get("abstention") for r in runs.values())
    if has_abstention:
        table.add_column("abstained (false)", justify="right", no_wrap=True)
    for mode, run in runs.items():
        row = [mode, *(f"{v:.3f}" for v in run["metrics"].values()),
               f"{run['latency_ms']['p50']:.1f}", f"{run['latency_ms']['p95']:.1f}"]
        if has_abstention:
            a = run.get("abstention") or {}
            abstained = f"{a['abstained']}/{a['unanswerable']} " if a.get("unanswerable") else ""
            row.append(f"{abstained}({a.get('false_abstentions', '-')})")
        table.add_row(*row)
    console.print(table)
    missed: dict[str, dict] = {}
    for mode, run in runs.items():
        for miss in run.get("misses", []):
            missed.setdefault(miss["id"], {"question": miss["question"]})[mode] = miss["first_relevant_rank"]
    if missed:
        misses = Table(title="Top passage not relevant (rank of the first relevant passage; - = not in top k)",
                       title_justify="left", box=box.SIMPLE_HEAD)
        misses.add_column("id")
        misses.add_column("question", overflow="fold", max_width=60)
        for mode in runs:
            misses.add_column(mode, justify="right")
        for qid, row in sorted(missed.items()):
            misses.add_row(qid, row["question"], *(str(row.get(m, 1) or "-") for m in runs))
        console.print(misses)
    paged: dict[str, dict] = {}
    for mode, run in runs.items():
        for miss in run.get("page_misses", []):
            paged.setdefault(miss["id"], {"page": miss["page"]})[mode] = miss
    if paged:
        pages = Table(title="Page not cited (the page the first relevant passage in the top k cites; "
                      "- = no relevant passage in the top k)", title_justify="left", box=box.SIMPLE_HEAD)
        pages.add_column("id")
        pages.add_column("page", justify="right")
        for mode in runs:
            pages.add_column(mode, justify="right")
        for qid, row in sorted(paged.items()):
            pages.add_row(qid, str(row["page"]), *(_cited(row.get(m)) for m in runs))
        console.print(pages)
    for mode, run in runs.items():
        a = run.get("abstention")
        if a and (a["answered_unanswerable"] or a["abstained_answerable"]):
            console.print(f"{mode}: answered unanswerable {', '.join(a['answered_unanswerable']) or 'none'}; "
                          f"abstained on answerable {', '.join(a['abstained_answerable']) or 'none'}")
    if report.get("unmatched_evidence"):
        console.print(f"[yellow]No passage contains the evidence of: {', '.join(report['unmatched_evidence'])} "
                      "(excluded from the figures)[/yellow]")


def _cited(miss: dict | None) -> str:
    """A page-miss cell: "ok" (that mode cited the page), "p. N", "no page" (the hit has none) or "-"."""
    if miss is None:
        return "ok"
    if miss["first_relevant_rank"] is None:
        return "-"
    return f"p. {miss['cited_page']}" if miss["cited_page"] is not None else "no page"
