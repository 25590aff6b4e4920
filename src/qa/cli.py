"""The `qa` command: thin typer front end over the library (index, ask)."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import textwrap
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
                     "[default: the bundled all-MiniLM-L6-v2].")
JsonOut = typer.Option(False, "--json", help="Print one JSON object instead of text.")


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


def _progress_bar(label: str):
    """A factory for a rich progress bar on stderr, shown only on a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        return None

    def start(total: int):
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


@app.command("index")
def index_command(
    paths: Optional[list[Path]] = typer.Argument(None, help="Files or folders to index [default: corpus/]."),
    index_dir: Path = IndexDir,
    model: Optional[str] = Model,
    as_json: bool = JsonOut,
) -> None:
    """Build the index from .txt and .md files, replacing the old one atomically.

    Example: qa index corpus/
    """
    from .embeddings import load_embedder
    from .index import build_index

    with _user_errors():
        embedder = load_embedder(model)
        index = build_index(paths or [Path("corpus")], index_dir, embedder, warn=_warn,
                            progress=_progress_bar("Embedding passages"))
        manifest = index.manifest
        if as_json:
            typer.echo(json.dumps({k: manifest[k] for k in ("model", "passage_count", "built_at", "files")}))
        else:
            docs = sum(1 for f in manifest["files"] if not f.get("skipped"))
            typer.echo(f"Indexed {manifest['passage_count']} passages from {docs} file(s) into {index_dir}/")


@app.command("ask")
def ask_command(
    question: str = typer.Argument(..., help="The question, in plain English."),
    k: int = typer.Option(5, "-k", "--k", help="How many passages to return (1-100)."),
    mode: Optional[str] = typer.Option(None, "--mode", help="dense, bm25 or hybrid [default: hybrid]."),
    index_dir: Path = IndexDir,
    model: Optional[str] = Model,
    as_json: bool = JsonOut,
) -> None:
    """Answer QUESTION with the top-k cited passages, best first.

    Example: qa ask "Which country is the protecting power for the US in North Korea?" -k 3
    """
    from .retrieval import Retriever, check_k, check_mode, check_question

    with _user_errors():
        check_question(question)
        check_k(k)
        check_mode(mode)
        retriever = Retriever.open(index_dir, model=model, warn=_warn, progress=_progress_bar("Embedding passages"))
        answer = retriever.ask(question, k, mode)
        if as_json:
            typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
        else:
            typer.echo(format_answer(answer))


def format_answer(answer, width: int | None = None) -> str:
    """The human-readable answer: a citation line per passage, then its text wrapped."""
    width = width or min(shutil.get_terminal_size((100, 20)).columns, 100)
    lines = []
    for n, hit in enumerate(answer.passages, 1):
        lines.append(f"[{n}] {hit.doc} › {hit.section} (chars {hit.start}–{hit.end}) {hit.score:.3f}")
        for paragraph in hit.text.splitlines():
            lines.extend(textwrap.wrap(paragraph, width=width, initial_indent="    ", subsequent_indent="    ")
                         or [""])
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
