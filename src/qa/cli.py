"""The `qa` command: thin typer front end over the library (index, ask)."""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from .config import Settings, quiet_hub
from . import __version__
from .console import PlainCommand, print_answer
from .console import progress_bar as _progress_bar
from .console import warn as _warn
from .errors import QAError
from .serve.keys_cli import keys_commands, security_from
from .locate import index_target, recorded_sources
from .wiring import IndexOptions
from .cli_options import (EvalPlan, IndexDir, JsonOut, K, Mode, Rerank, Where, eval_plan_from, index_options_from,
                          settings_from, where_from)
from .cli_options import user_errors as _user_errors, with_built as _with

app = typer.Typer(
    help="Ask questions of your documents; answers are cited passages.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: wrapped by the terminal, no type labels (console.PlainCommand)
)

def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"qa {__version__}")
        raise typer.Exit()


@app.callback()
def _entry(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                        help="Print qa's version and exit.")) -> None:
    """Ask questions of your documents; answers are cited passages."""
    quiet_hub()  # the process's Hugging Face settings, set once here (the entry point), before any command runs


@app.command("index")
@_with(options=index_options_from, where=where_from)
def index_command(
    paths: Optional[list[Path]] = typer.Argument(None, help="Files or folders to index (default: the sources of "
                                                 "the index found, else corpus/)."),
    options: IndexOptions = None,
    where: Where = None,
    as_json: bool = JsonOut,
    watch: bool = typer.Option(False, "--watch", help="After the build, re-index each time the files change, "
                               "until Ctrl-C (local store)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when any file was skipped or read as plain "
                                "text (its layout rules failed), for pipelines."),
) -> None:
    """Build the index from .txt, .md, .pdf, .html/.htm and .docx files, replacing the old one atomically;
    only text the old index did not hold is embedded. One FOLDER is indexed into FOLDER/.qa/ (found from any
    folder below it), unless --index-dir or --name says where; with no path, the index found is updated.

    Example: qa index corpus/   (or: qa index corpus/ --store qdrant --qdrant-url http://qdrant:6333 --shards 6 --replicas 2)
    """
    from .ingest.outcomes import summary
    from .wiring import index_corpus

    with _user_errors():
        target = index_target(paths or [], where.chosen)
        settings = replace(where.settings, index_dir=target.path)
        sources = paths or recorded_sources(target.path) or [Path("corpus")]
        if watch:
            from .serve.watch import follow_from

            follow_from(settings, sources, _warn, check_only=True)  # --store qdrant is said before the build
        indexed = index_corpus(settings, sources, options, warn=_warn, progress=_progress_bar())
        files = indexed.record.get("files")  # each file's record and outcome (a local index; Qdrant's sync has none)
        said = summary(files) if files is not None else None  # every file's outcome in one line
        partial = any(f.get("outcome", "read") != "read" or f.get("skipped") for f in files or ())
        if as_json:
            typer.echo(json.dumps({**indexed.record, "summary": said} if said else indexed.record))
        else:  # the outcomes line when a file was not read whole (the line before counts the files read)
            typer.echo(indexed.summary + (f"\n{said}" if said and partial else ""))
        if strict and partial:
            raise typer.Exit(1)
        if watch:
            follow_from(settings, sources, _warn)


@app.command("init")
@_with(settings=settings_from)
def init_command(
    folder: Path = typer.Argument(Path("."), help="The folder to index (default: the current one)."),
    settings: Settings = None,
) -> None:
    """Index FOLDER into FOLDER/.qa/, where qa ask, serve and status find it from FOLDER or any folder below.

    Example: qa init ~/notes   (then, in ~/notes or below: qa ask "when is the lease renewed?")
    """
    from .locate import INDEX_FOLDER
    from .wiring import index_corpus

    with _user_errors():
        settings = replace(settings, index_dir=folder / INDEX_FOLDER)
        typer.echo(index_corpus(settings, [folder], warn=_warn, progress=_progress_bar()).summary)


@app.command("status")
@_with(where=where_from)
def status_command(where: Where = None, as_json: bool = JsonOut) -> None:
    """Say which index qa uses here and how it was found, its corpus, documents, passages and pages,
    whether it is current, and the disk it takes.

    Example: qa status   (in any folder under an indexed one; or: qa status --name work)
    """
    from .status import index_status, render_status
    from .wiring import model_name

    with _user_errors():
        status = index_status(where.found, model_name(where.settings))
        typer.echo(json.dumps(status) if as_json else render_status(status), nl=as_json)


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

    Each passage ends with its score, what it is ranked by for this question (so not comparable across
    questions). hybrid: dense and BM25 scores fused on a 0-1 scale over the question's candidates (1 is the
    best), plus 0.2 for a year or number when the question asks when or how many, 0.2 for someone acting
    when it asks who, 1 for the role it asks about, less 0.1 under a passage of the same section listed
    above; dense: the cosine of question and passage; bm25: the BM25 score.

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
                                               progress=_progress_bar())) as retriever:
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
@_with(settings=settings_from, security=security_from)
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on (1-65535)."),
    allow_host: Optional[list[str]] = typer.Option(None, "--allow-host", metavar="NAME", help="Also answer "
                                                   "requests whose Host header names NAME (repeatable; * for any)."),
    settings: Settings = None,
    security: dict = None,
) -> None:
    """Serve the HTTP API (/ask, /passages/ID, /health, /docs) and the ask page at / until Ctrl-C.

    Beyond loopback (--host 0.0.0.0) it needs API keys (`qa keys add NAME`) or --no-auth; with keys, requests
    carry `Authorization: Bearer KEY` (docs/security.md).

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
        serve(settings, host=host, port=port, warn=_warn, allowed_hosts=allow_host or (), **security)


@app.command("mcp")
@_with(settings=settings_from)
def mcp_command(settings: Settings = None) -> None:
    """Serve the index to assistants and editors as MCP tools over stdio: ask, list_documents, read_text.

    Example: qa mcp --index-dir ~/index   (an MCP client's config: {"command": "qa", "args": ["mcp", ...]})
    """
    from .serve.mcp_stdio import mcp_server
    from .wiring import open_retriever

    with _user_errors():
        with contextlib.closing(open_retriever(settings, build_if_missing=True, warn=_warn)) as retriever:
            mcp_server(retriever).run("stdio")


@app.command("eval")
@_with(plan=eval_plan_from, where=where_from)
def eval_command(
    evalset: Optional[Path] = typer.Argument(None, help="A set's folder (questions.jsonl with corpus/, or a "
                                             "set.toml naming its corpus: scored against its own index, built "
                                             "and kept in qa's cache) or a questions file (default: "
                                             "eval/questions.jsonl, against the index found)."),
    k: int = typer.Option(10, "-k", "--k", help="How many passages to retrieve per question (1-100)."),
    beir: Optional[Path] = typer.Option(None, "--beir", help="Evaluate on a BEIR folder (corpus.jsonl, "
                                        "queries.jsonl, qrels/test.tsv) instead; its index is kept beside "
                                        "--index-dir and reused (with --store qdrant, copied into --collection)."),
    plan: EvalPlan = None,
    where: Where = None,
    as_json: bool = JsonOut,
) -> None:
    """Score retrieval: Hit@1/3/5, MRR@10, nDCG@10, evidence recall, latency, abstention, and page accuracy
    for a set whose questions give the page of their answer (--min page=0.9 gates it).

    Example: qa eval eval/mixed --compare   (or: qa eval --beir ../shared/benchmarks/msmarco-5k)
    """
    from .eval_report import failed_gates, failed_versus, render_report
    from .evaluation import DEFAULT_EVALSET, evaluate_beir, evaluate_evalset

    from .evalset import read_set, set_index

    with _user_errors():
        if beir is not None and evalset is not None:
            raise QAError("give either an EVALSET or --beir DIR, not both")
        eval_set = read_set(evalset or DEFAULT_EVALSET)
        settings = where.settings
        if eval_set.corpus is not None:  # a set's folder: its own index (cached, brought up to date)
            settings = set_index(eval_set, settings, where.chosen, warn=_warn, progress=_progress_bar())
        if beir is not None:  # over Qdrant: the local BEIR index copied into --collection (once), then searched
            report = evaluate_beir(beir, settings, modes=plan.modes, warn=_warn,
                                   progress=_progress_bar("Embedding BEIR"))
        else:
            report = evaluate_evalset(eval_set.questions, settings, k=k, modes=plan.modes, warn=_warn,
                                      progress=_progress_bar())
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


SHORT_HELP = {  # `qa --help`'s list: one line each (click would cut the docstrings' first sentences short)
    "index": "Index files or folders; with no path, update the index found.",
    "init": "Index the current folder (or FOLDER) into its own .qa/.",
    "status": "Which index is used here, what it holds, whether it is current.",
    "ask": "Answer a question with cited passages, best first.",
    "text": "Print the text a document's citations index.",
    "serve": "Serve the HTTP API and the ask page.",
    "eval": "Score retrieval on a question set (a set's folder, a file, or BEIR).",
    "mcp": "Serve the index as MCP tools over stdio (assistants, editors).",
}
for _command in app.registered_commands:  # every command's help names its values (console.PlainCommand)
    _command.cls = PlainCommand
    _command.short_help = SHORT_HELP.get(_command.name)


_keys = keys_commands(IndexDir, JsonOut, _user_errors, _warn)
for _command in _keys.registered_commands:
    _command.cls = PlainCommand
app.add_typer(_keys, name="keys", short_help="API keys for qa serve: add, list, revoke.")


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
