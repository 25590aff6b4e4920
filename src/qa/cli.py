"""The `qa` command: thin typer front end over the library (index, ask)."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import typer

from .config import Settings, quiet_hub
from .errors import QAError
from .wiring import IndexOptions

app = typer.Typer(
    help="Ask questions of your documents; answers are cited passages.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# The options every store-reading command shares, defined once: `settings_from` turns them into Settings.
# None means not given: config.Settings.from_flags then reads the environment variable named in the help.
IndexDir = typer.Option(None, "--index-dir", show_default=False, help="Where the index lives (default: index; "
                        "$QA_INDEX).")
Model = typer.Option(None, "--model", help="sentence-transformers model name or folder "
                     "(default: $QA_MODEL, else the bundled all-MiniLM-L6-v2).")
JsonOut = typer.Option(False, "--json", help="Print one JSON object instead of text.")
StoreKind = typer.Option(None, "--store", show_default=False, help="local (the --index-dir folder, the default) "
                         "or qdrant (--qdrant-url, --collection; docs/scale-out.md); $QA_STORE.")
QdrantUrl = typer.Option(None, "--qdrant-url", help="With --store qdrant: http(s)://host:port, a folder for "
                         "Qdrant's embedded local mode, or edge:FOLDER ($QA_QDRANT_URL).")
Collection = typer.Option(None, "--collection", show_default=False, help="With --store qdrant: the collection "
                          "(default: qa; $QA_COLLECTION).")
K = typer.Option(5, "-k", "--k", help="How many passages to return (1-100).")
Mode = typer.Option(None, "--mode", help="dense, bm25 or hybrid (default: hybrid).")
Rerank = typer.Option(None, "--rerank", help="A second stage over the first stage's top 20: none (the default), "
                      "late (late interaction, the bundled model's token vectors) or cross (--reranker's model).")
Reranker = typer.Option(None, "--reranker", metavar="DIR", help="For --rerank cross (ask, eval, serve): a "
                        "sentence-transformers CrossEncoder folder, exported to ONNX once ($QA_RERANKER).")


def settings_from(index_dir: Optional[Path] = IndexDir, model: Optional[str] = Model,
                  store: Optional[str] = StoreKind, qdrant_url: Optional[str] = QdrantUrl,
                  collection: Optional[str] = Collection, reranker: Optional[Path] = Reranker) -> Settings:
    return Settings.from_flags(index_dir=index_dir, model=model, store=store, qdrant_url=qdrant_url,
                               collection=collection, reranker=reranker)


def index_options_from(
    full: bool = typer.Option(False, "--full", help="Embed every text again instead of reusing the vectors "
                              "of texts the index already holds."),
    from_index: Optional[Path] = typer.Option(None, "--from-index", metavar="DIR", help="With --store qdrant: "
                                              "copy the local index in DIR (nothing is embedded again)."),
    shards: Optional[int] = typer.Option(None, "--shards", metavar="N", help="With --store qdrant, a new "
                                         "collection's shard_number (default 1; fixed at creation)."),
    replicas: Optional[int] = typer.Option(None, "--replicas", metavar="N", help="With --store qdrant, a new "
                                           "collection's replication_factor: copies of each shard (default 1)."),
    write_consistency: Optional[int] = typer.Option(None, "--write-consistency", metavar="N", help="With --store "
                                                    "qdrant, a new collection's write_consistency_factor: replicas "
                                                    "a write waits for (default 1, at most --replicas)."),
) -> IndexOptions:
    return IndexOptions(full, from_index, shards, replicas, write_consistency)


@dataclass(frozen=True)
class EvalPlan:
    """What `qa eval` runs and gates: `modes` (each run), `gated` (those --min gates: not a baseline run
    only for --min-vs), `gates` (--min), `versus` (--min-vs) against `mode`."""

    modes: list[str]
    gated: list[str]
    gates: dict
    versus: str | None
    mode: str | None


def eval_plan_from(
    mode: Optional[str] = Mode,
    compare: bool = typer.Option(False, "--compare", help="Run every mode side by side."),
    minimum: Optional[list[str]] = typer.Option(None, "--min", metavar="METRIC=VALUE", help="Fail (exit 1) "
                                                "when a figure is below VALUE, e.g. --min ndcg@10=0.8."),
    versus: Optional[str] = typer.Option(None, "--min-vs", metavar="MODE", help="Fail (exit 1) when the mode "
                                         "run (default hybrid) is more than one question's worth below MODE "
                                         "on Hit@1, MRR@10 or nDCG@10, e.g. --min-vs dense (MODE is run too)."),
    rerank: Optional[str] = Rerank,
) -> EvalPlan:
    from .eval_report import parse_gates
    from .evaluation import check_modes
    from .search.retrieval import check_mode

    gates = parse_gates(minimum or [])
    modes = check_modes(mode, compare, rerank)  # with --compare and --rerank: the second stage on and off
    gated = list(modes)
    if versus is not None and check_mode(versus) not in modes:
        modes.append(check_mode(versus))
    return EvalPlan(modes, gated, gates, versus, mode)


def _with(**builders: Callable) -> Callable:
    """A command whose parameter named NAME is built by `builders[NAME]` from that builder's own options:
    typer shows the builder's options on the command (defined once, shared by every command using it),
    and the command receives what the builder returns (a QAError from it is `Error: ...`)."""

    def wrap(command: Callable) -> Callable:
        own = inspect.signature(command).parameters
        wanted = {name: inspect.signature(builder).parameters for name, builder in builders.items()}
        parameters = [q for p in own.values() for q in (wanted[p.name].values() if p.name in wanted else [p])]
        hints = typing.get_type_hints(command)
        annotations = {p.name: hints[p.name] for p in own.values() if p.name not in wanted}
        for name, builder in builders.items():
            annotations.update({k: v for k, v in typing.get_type_hints(builder).items() if k != "return"})

        @functools.wraps(command)
        def run(**flags):
            with _user_errors():
                built = {name: builder(**{k: flags.pop(k) for k in wanted[name]}) for name, builder in builders.items()}
            return command(**flags, **built)

        run.__signature__ = inspect.Signature(parameters)
        run.__annotations__ = annotations
        return run

    return wrap


def _warn(message: str) -> None:
    typer.echo(f"qa: {message}", err=True)


def _fail(error: QAError) -> None:
    typer.echo(f"Error: {error.message}", err=True)
    raise typer.Exit(error.exit_code)


@contextlib.contextmanager
def _user_errors():
    """Every QAError becomes `Error: ...` on stderr and a non-zero exit, never a traceback."""
    try:
        yield
    except QAError as error:
        _fail(error)
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        raise typer.Exit(130)


PROGRESS_LINE_SECONDS = 5.0  # off a terminal (a log, CI), a progress line at most this often


def _progress_bar(label: str):
    """A factory for progress on stderr: a rich bar on a terminal, else a plain line every few seconds."""

    def start(total: int):  # rich is imported only when there is something to embed: asking is faster
        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal:
            return _progress_lines(label, total)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            console=console, transient=True)
        progress.start()
        task = progress.add_task(label, total=total)

        def step(n: int) -> None:
            progress.advance(task, n)
            if progress.tasks[0].completed >= total:
                progress.stop()

        return step

    return start


def _progress_lines(label: str, total: int, every: float = PROGRESS_LINE_SECONDS):
    """`qa: Embedding passages: 1,024/8,192 (12%)` on stderr at most every `every` seconds, and at the end
    when a line was shown before (a build of a few seconds stays quiet)."""
    import time

    done, last, shown = 0, time.monotonic(), False

    def step(n: int) -> None:
        nonlocal done, last, shown
        done += n
        now = time.monotonic()
        if now - last >= every or (shown and done >= total):
            last, shown = now, True
            _warn(f"{label}: {done:,}/{total:,} ({100 * done // max(total, 1)}%)")

    return step


@app.callback()
def _entry() -> None:
    quiet_hub()  # the process's Hugging Face settings, set once here (the entry point), before any command runs


@app.command("index")
@_with(options=index_options_from, settings=settings_from)
def index_command(
    paths: Optional[list[Path]] = typer.Argument(None, help="Files or folders to index (default: corpus/)."),
    options: IndexOptions = None,
    settings: Settings = None,
    as_json: bool = JsonOut,
) -> None:
    """Build the index from .txt, .md, .pdf, .html/.htm and .docx files, replacing the old one atomically;
    only text the old index did not hold is embedded.

    Example: qa index corpus/   (or: qa index corpus/ --store qdrant --qdrant-url http://qdrant:6333 --shards 6 --replicas 2)
    """
    from .wiring import index_corpus

    with _user_errors():
        indexed = index_corpus(settings, paths or [Path("corpus")], options, warn=_warn,
                               progress=_progress_bar("Embedding passages"))
        typer.echo(json.dumps(indexed.record) if as_json else indexed.summary)


@app.command("ask")
@_with(settings=settings_from)
def ask_command(
    question: str = typer.Argument(..., help="The question, in plain English."),
    k: int = K,
    mode: Optional[str] = Mode,
    rerank: Optional[str] = Rerank,
    settings: Settings = None,
    as_json: bool = JsonOut,
) -> None:
    """Answer QUESTION with the top-k cited passages, best first.

    Example: qa ask "Which country is the protecting power for the US in North Korea?" -k 3
    """
    from .search.rerank import check_reranker
    from .search.retrieval import check_k, check_mode, check_question
    from .wiring import open_retriever

    with _user_errors():
        question = check_question(question)  # before the index and model load; search takes it as it is
        check_k(k)
        check_mode(mode)
        check_reranker(rerank)
        with contextlib.closing(open_retriever(settings, build_if_missing=True, warn=_warn,
                                               progress=_progress_bar("Embedding passages"))) as retriever:
            answer = retriever.ask(question, k, mode, rerank=rerank)
        if as_json:
            typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        else:
            print_answer(answer)


@app.command("text")
@_with(settings=settings_from)
def text_command(
    doc: str = typer.Argument(..., help="The document's name as cited, e.g. manual.pdf or notes/a.md."),
    settings: Settings = None,
) -> None:
    """Print the text that DOC's citations index: the file for .txt and .md, the extracted text for
    PDF, HTML and Word files, so that text[start:end] is each cited passage (over Qdrant: the text
    its side collection keeps).

    Example: qa text manual.pdf | sed -n 1,20p
    """
    from .wiring import open_store

    with _user_errors():
        with contextlib.closing(open_store(settings)) as store:
            sys.stdout.write(store.text(doc))


@app.command("serve")
@_with(settings=settings_from)
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on (1-65535)."),
    allow_host: Optional[list[str]] = typer.Option(None, "--allow-host", metavar="NAME", help="Also answer "
                                                   "requests whose Host header names NAME (repeatable; * for any)."),
    settings: Settings = None,
) -> None:
    """Serve the HTTP API (/ask, /passages/ID, /health, /docs) and the ask page at / until Ctrl-C.

    Example: qa serve --port 8000   (then open http://127.0.0.1:8000/?q=who+leads+the+talks)
    """
    from .serve.server import serve
    from .wiring import check

    with _user_errors():
        if not 1 <= port <= 65535:  # checked here, not by click, for the one-line `Error:` form
            raise QAError(f"--port must be a whole number from 1 to 65535, not {port}")
        check(settings)
        if settings.reranker is not None:  # a folder that is no cross-encoder is said now, not at a request
            from .embed.cross_encoder import load_cross_encoder

            load_cross_encoder(settings.reranker)
        # over Qdrant, stateless: any number of replicas may serve one collection (of a server); one that
        # cannot be opened yet is tried again every second while the server answers 503
        serve(settings, host=host, port=port, warn=_warn, allowed_hosts=allow_host or ())


@app.command("eval")
@_with(plan=eval_plan_from, settings=settings_from)
def eval_command(
    evalset: Optional[Path] = typer.Argument(None, help="Question set, JSON lines (default: eval/questions.jsonl)."),
    k: int = typer.Option(10, "-k", "--k", help="How many passages to retrieve per question (1-100)."),
    beir: Optional[Path] = typer.Option(None, "--beir", help="Evaluate on a BEIR folder (corpus.jsonl, "
                                        "queries.jsonl, qrels/test.tsv) instead; its index is kept beside "
                                        "--index-dir and reused (with --store qdrant, copied into --collection)."),
    plan: EvalPlan = None,
    settings: Settings = None,
    as_json: bool = JsonOut,
) -> None:
    """Score retrieval: Hit@1/3/5, MRR@10, nDCG@10, evidence recall, latency, abstention, and page accuracy
    for a set whose questions give the page of their answer (--min page=0.9 gates it).

    Example: qa eval --compare --min ndcg@10=0.8   (or: qa eval --beir ../shared/benchmarks/msmarco-5k)
    """
    from .eval_report import failed_gates, failed_versus, render_report
    from .evaluation import DEFAULT_EVALSET, evaluate_beir, evaluate_evalset

    with _user_errors():
        if beir is not None and evalset is not None:
            raise QAError("give either an EVALSET or --beir DIR, not both")
        if beir is not None:  # over Qdrant: the local BEIR index copied into --collection (once), then searched
            report = evaluate_beir(beir, settings, modes=plan.modes, warn=_warn,
                                   progress=_progress_bar("Embedding BEIR corpus"))
        else:
            report = evaluate_evalset(evalset or DEFAULT_EVALSET, settings, k=k, modes=plan.modes, warn=_warn,
                                      progress=_progress_bar("Embedding passages"))
        failures = failed_gates(report, plan.gates, plan.gated)
        if plan.versus is not None:
            failures += failed_versus(report, plan.versus, plan.mode)
        if as_json:
            typer.echo(json.dumps({**report, "failed": failures}, ensure_ascii=False))
        else:
            from rich.console import Console

            render_report(report, Console())
        if failures:
            raise QAError("quality gate failed: " + "; ".join(failures), status=500)


NOT_IN_CORPUS = "Not in the corpus: no passage answers this question. The closest passages:"


def print_answer(answer, console=None) -> None:
    """The human-readable answer: a citation line per passage, then its text wrapped and indented,
    with the sentence that best answers the question emphasized (on a terminal)."""
    from rich.console import Console
    from rich.text import Text

    from .ingest.passages import cite

    console = console or Console(highlight=False, width=min(Console().width, 100))
    if not answer.answerable:
        console.print(Text(NOT_IN_CORPUS, style="bold red"), soft_wrap=True)
    for n, hit in enumerate(answer.passages, 1):
        if n > 1:
            console.print()
        console.print(Text(f"[{n}] {cite(hit.doc, hit.section, hit.start, hit.end, hit.page)} {hit.score:.3f}",
                           style="bold cyan"), soft_wrap=True)
        body = Text(hit.text)
        if hit.highlight:
            body.stylize("bold yellow", hit.highlight.start - hit.start, hit.highlight.end - hit.start)
        for line in body.wrap(console, max(console.width - 4, 20)):
            line.rstrip()
            console.print(Text("    ") + line, soft_wrap=True)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
