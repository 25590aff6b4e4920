"""The `qa` command: thin typer front end over the library (index, ask)."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import QAError

app = typer.Typer(
    help="Ask questions of your documents; answers are cited passages.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

IndexDir = typer.Option(Path("index"), "--index-dir", envvar="QA_INDEX", help="Where the index lives.")
Model = typer.Option(None, "--model", envvar="QA_MODEL", help="sentence-transformers model name or folder "
                     "(default: the bundled all-MiniLM-L6-v2).")
JsonOut = typer.Option(False, "--json", help="Print one JSON object instead of text.")
StoreKind = typer.Option("local", "--store", envvar="QA_STORE", help="local (the --index-dir folder) or qdrant "
                         "(--qdrant-url, --collection; docs/scale-out.md).")
QdrantUrl = typer.Option(None, "--qdrant-url", envvar="QA_QDRANT_URL", help="With --store qdrant: "
                         "http(s)://host:port, a folder for Qdrant's embedded local mode, or edge:FOLDER.")
Collection = typer.Option("qa", "--collection", envvar="QA_COLLECTION", help="With --store qdrant: the collection.")
Rerank = typer.Option(None, "--rerank", help="Second stage over the first stage's top 30: none, late (late "
                      "interaction with the bundled model's token vectors) or cross (--reranker's cross-encoder); "
                      "default none, or cross with --reranker.")
Reranker = typer.Option(None, "--reranker", envvar="QA_RERANKER", metavar="DIR", help="A sentence-transformers "
                        "CrossEncoder folder for --rerank cross (exported to ONNX once; never downloaded).")


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


def _qdrant_retriever(store: str, url: str | None, collection: str, model: str | None):
    """A Retriever over the Qdrant collection when --store is qdrant; None for the local store."""
    url = _qdrant_url(store, url)
    if url is None:
        return None
    from .store.qdrant import open_retriever

    return open_retriever(url, collection, model, warn=_warn)


@contextlib.contextmanager
def _qdrant_retriever_while(store: str, url: str | None, collection: str, model: str | None):
    """`_qdrant_retriever`, its collection closed after the command (an embedded engine's folder is
    then free for the next command in the same process)."""
    retriever = _qdrant_retriever(store, url, collection, model)
    try:
        yield retriever
    finally:
        if retriever is not None:
            retriever.store.close()


def _qdrant_url(store: str, url: str | None) -> str | None:
    """The Qdrant URL when --store is qdrant, None for the local store."""
    if store not in ("local", "qdrant"):
        raise QAError(f"--store must be local or qdrant, not {store!r}")
    if store == "qdrant" and not url:
        raise QAError("--store qdrant needs --qdrant-url URL (or $QA_QDRANT_URL): http(s)://host:port or a folder")
    return url if store == "qdrant" else None


def _second_stage(rerank: str | None, reranker: Path | None) -> str:
    """The second stage asked for (--rerank, else cross when --reranker names a folder, else none)."""
    from .search.rerank import check_reranker

    rerank = check_reranker(rerank or ("cross" if reranker is not None else None))
    if rerank == "cross" and reranker is None:
        raise QAError("--rerank cross needs --reranker DIR (a sentence-transformers CrossEncoder folder)")
    return rerank


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


@app.command("index")
def index_command(
    paths: Optional[list[Path]] = typer.Argument(None, help="Files or folders to index (default: corpus/)."),
    index_dir: Path = IndexDir,
    model: Optional[str] = Model,
    full: bool = typer.Option(False, "--full", help="Embed every text again instead of reusing the vectors "
                              "of texts the index already holds."),
    as_json: bool = JsonOut,
    store: str = StoreKind,
    qdrant_url: Optional[str] = QdrantUrl,
    collection: str = Collection,
    from_index: Optional[Path] = typer.Option(None, "--from-index", metavar="DIR", help="With --store qdrant: "
                                              "copy the local index in DIR (nothing is embedded again)."),
    shards: Optional[int] = typer.Option(None, "--shards", metavar="N", help="With --store qdrant, a new "
                                         "collection's shard_number (default 1; fixed at creation)."),
    replicas: Optional[int] = typer.Option(None, "--replicas", metavar="N", help="With --store qdrant, a new "
                                           "collection's replication_factor: copies of each shard (default 1)."),
    write_consistency: Optional[int] = typer.Option(None, "--write-consistency", metavar="N", help="With --store "
                                                    "qdrant, a new collection's write_consistency_factor: replicas "
                                                    "a write waits for (default 1, at most --replicas)."),
) -> None:
    """Build the index from .txt, .md, .pdf, .html/.htm and .docx files, replacing the old one atomically;
    only text the old index did not hold is embedded.

    Example: qa index corpus/   (or: qa index corpus/ --store qdrant --qdrant-url http://qdrant:6333 --shards 6 --replicas 2)
    """
    from .embed import load_embedder
    from .store.build import build_index
    from .store.folder import check_index_target

    with _user_errors():
        sources = paths or [Path("corpus")]
        url = _qdrant_url(store, qdrant_url)
        cluster = (shards, replicas, write_consistency)
        if url is not None:
            from .store.qdrant_sync import Settings

            _index_qdrant(sources, url, collection, from_index, model, full, as_json, Settings(*cluster))
            return
        if from_index is not None or any(v is not None for v in cluster):
            raise QAError("--from-index, --shards, --replicas and --write-consistency go with --store qdrant")
        check_index_target(index_dir, sources)  # before the model loads: a wrong folder is said at once
        embedder = load_embedder(model, warn=_warn, lazy=True)
        index = build_index(sources, index_dir, embedder, warn=_warn,
                            progress=_progress_bar("Embedding passages"), reuse=not full)
        manifest = index.manifest
        if as_json:
            typer.echo(json.dumps({k: manifest[k] for k in ("model", "passage_count", "built_at", "files", "texts")}))
        else:
            docs = sum(1 for f in manifest["files"] if not f.get("skipped"))
            texts = manifest["texts"]
            reused = f" (embedded {texts['embedded']} new texts, reused {texts['reused']})" if texts["reused"] else ""
            typer.echo(f"Indexed {manifest['passage_count']} passages from {docs} file(s) into {index_dir}/{reused}")


def _index_qdrant(sources: list[Path], url: str, collection: str, from_index: Path | None, model: str | None,
                  full: bool, as_json: bool, settings) -> None:
    from .store import qdrant_sync

    if from_index is not None:
        counts = qdrant_sync.from_local_index(from_index, url, collection, settings)
    else:
        from .embed import load_embedder

        counts = qdrant_sync.index_corpus(sources, url, load_embedder(model, warn=_warn), collection, settings,
                                          full=full, warn=_warn)
    if as_json:
        typer.echo(json.dumps({"collection": collection, "url": url, **counts}))
    else:
        typer.echo(f"Synced collection {collection} at {url}: {counts['written']} file(s) written "
                   f"({counts['passages_written']} passages), {counts['skipped']} unchanged, {counts['deleted']} deleted")


@app.command("ask")
def ask_command(
    question: str = typer.Argument(..., help="The question, in plain English."),
    k: int = typer.Option(5, "-k", "--k", help="How many passages to return (1-100)."),
    mode: Optional[str] = typer.Option(None, "--mode", help="dense, bm25 or hybrid (default: hybrid)."),
    index_dir: Path = IndexDir,
    model: Optional[str] = Model,
    as_json: bool = JsonOut,
    store: str = StoreKind,
    qdrant_url: Optional[str] = QdrantUrl,
    collection: str = Collection,
    rerank: Optional[str] = Rerank,
    reranker: Optional[Path] = Reranker,
) -> None:
    """Answer QUESTION with the top-k cited passages, best first.

    Example: qa ask "Which country is the protecting power for the US in North Korea?" -k 3
    """
    from .search.retrieval import Retriever, check_k, check_mode, check_question

    with _user_errors():
        check_question(question)
        check_k(k)
        check_mode(mode)
        second = _second_stage(rerank, reranker)
        with _qdrant_retriever_while(store, qdrant_url, collection, model) as over_qdrant:
            retriever = over_qdrant or \
                Retriever.open(index_dir, model=model, warn=_warn, progress=_progress_bar("Embedding passages"))
            retriever.second_stage.cross_encoder_dir = reranker
            answer = retriever.ask(question, k, mode, rerank=second)
        if as_json:
            typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        else:
            print_answer(answer)


@app.command("text")
def text_command(
    doc: str = typer.Argument(..., help="The document's name as cited, e.g. manual.pdf or notes/a.md."),
    index_dir: Path = IndexDir,
    store: str = StoreKind,
    qdrant_url: Optional[str] = QdrantUrl,
    collection: str = Collection,
) -> None:
    """Print the text that DOC's citations index: the file for .txt and .md, the extracted text for
    PDF, HTML and Word files, so that text[start:end] is each cited passage (over Qdrant: the text
    its side collection keeps).

    Example: qa text manual.pdf | sed -n 1,20p
    """
    with _user_errors():
        url = _qdrant_url(store, qdrant_url)
        if url is None:
            from .store.index import load_index

            sys.stdout.write(load_index(index_dir).text(doc))
            return
        from .store.qdrant import QdrantStore

        opened = QdrantStore.open(url, collection)
        try:
            sys.stdout.write(opened.text(doc))
        finally:
            opened.close()


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for every interface)."),
    port: int = typer.Option(8000, "--port", help="Port to listen on (1-65535)."),
    index_dir: Path = IndexDir,
    model: Optional[str] = Model,
    allow_host: Optional[list[str]] = typer.Option(None, "--allow-host", metavar="NAME", help="Also answer "
                                                   "requests whose Host header names NAME (repeatable; * for any)."),
    store: str = StoreKind,
    qdrant_url: Optional[str] = QdrantUrl,
    collection: str = Collection,
    reranker: Optional[Path] = Reranker,
) -> None:
    """Serve the HTTP API (/ask, /passages/ID, /health, /docs) and the ask page at / until Ctrl-C.

    Example: qa serve --port 8000   (then open http://127.0.0.1:8000/?q=who+leads+the+talks)
    """
    from .serve.server import serve

    with _user_errors():
        if not 1 <= port <= 65535:  # checked here, not by click, for the one-line `Error:` form
            raise QAError(f"--port must be a whole number from 1 to 65535, not {port}")
        # over Qdrant, stateless: any number of replicas may serve one collection (of a server); one that
        # cannot be opened yet is tried again every second while the server answers 503
        url = _qdrant_url(store, qdrant_url)
        if url is not None:
            from .store.qdrant import retriever_opener

            source = retriever_opener(url, collection, model, warn=_warn)
        else:
            source = index_dir
        if reranker is not None:  # a folder that is no cross-encoder is said now, not at the first request
            from .embed.cross_encoder import load_cross_encoder

            load_cross_encoder(reranker)
        serve(source, host=host, port=port, model=model, warn=_warn, allowed_hosts=allow_host or (),
              reranker=reranker)


@app.command("eval")
def eval_command(
    evalset: Optional[Path] = typer.Argument(None, help="Question set, JSON lines (default: eval/questions.jsonl)."),
    k: int = typer.Option(10, "-k", "--k", help="How many passages to retrieve per question (1-100)."),
    mode: Optional[str] = typer.Option(None, "--mode", help="dense, bm25 or hybrid (default: hybrid)."),
    compare: bool = typer.Option(False, "--compare", help="Run every mode side by side."),
    beir: Optional[Path] = typer.Option(None, "--beir", help="Evaluate on a BEIR folder (corpus.jsonl, "
                                        "queries.jsonl, qrels/test.tsv) instead; its index is kept beside "
                                        "--index-dir and reused (with --store qdrant, copied into --collection)."),
    minimum: Optional[list[str]] = typer.Option(None, "--min", metavar="METRIC=VALUE", help="Fail (exit 1) "
                                                "when a figure is below VALUE, e.g. --min ndcg@10=0.8."),
    versus: Optional[str] = typer.Option(None, "--min-vs", metavar="MODE", help="Fail (exit 1) when the mode "
                                         "run (default hybrid) is more than one question's worth below MODE "
                                         "on Hit@1, MRR@10 or nDCG@10, e.g. --min-vs dense (MODE is run too)."),
    index_dir: Path = IndexDir,
    model: Optional[str] = Model,
    as_json: bool = JsonOut,
    store: str = StoreKind,
    qdrant_url: Optional[str] = QdrantUrl,
    collection: str = Collection,
    rerank: Optional[str] = Rerank,
    reranker: Optional[Path] = Reranker,
) -> None:
    """Score retrieval: Hit@1/3/5, MRR@10, nDCG@10, evidence recall, latency, abstention, and page accuracy
    for a set whose questions give the page of their answer (--min page=0.9 gates it).

    Example: qa eval --compare --min ndcg@10=0.8   (or: qa eval --beir ../shared/benchmarks/msmarco-5k)
    """
    from .eval_report import failed_gates, failed_versus, parse_gates, render_report
    from .evaluation import DEFAULT_EVALSET, check_modes, evaluate_beir, evaluate_evalset
    from .search.retrieval import check_mode

    with _user_errors():
        if beir is not None and evalset is not None:
            raise QAError("give either an EVALSET or --beir DIR, not both")
        gates = parse_gates(minimum or [])
        modes = check_modes(mode, compare, _second_stage(rerank, reranker))
        gated = list(modes)  # --min gates these; a baseline run only for --min-vs is not gated
        if versus is not None and check_mode(versus) not in modes:
            modes.append(check_mode(versus))
        if beir is not None:  # over Qdrant: the local BEIR index copied into --collection (once), then searched
            url = _qdrant_url(store, qdrant_url)
            report = evaluate_beir(beir, index_dir, model=model, modes=modes, warn=_warn,
                                   progress=_progress_bar("Embedding BEIR corpus"), qdrant=url and (url, collection),
                                   reranker=reranker)
        else:
            with _qdrant_retriever_while(store, qdrant_url, collection, model) as over_qdrant:
                report = evaluate_evalset(evalset or DEFAULT_EVALSET, index_dir, model=model, k=k, modes=modes,
                                          warn=_warn, progress=_progress_bar("Embedding passages"),
                                          retriever=over_qdrant, reranker=reranker)
        failures = failed_gates(report, gates, gated)
        if versus is not None:
            failures += failed_versus(report, versus, mode)
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
