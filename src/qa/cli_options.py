"""The `qa` command's shared options and the builders that turn them into Settings, defined once."""

from __future__ import annotations

import contextlib
import functools
import inspect
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import typer

from .config import Settings
from .errors import QAError
from .locate import Found, find_index, given
from .wiring import IndexOptions

# The options every store-reading command shares, defined once: `settings_from` turns them into Settings.
# None means not given: config.Settings.from_flags then reads the environment variable named in the help.
IndexDir = typer.Option(None, "--index-dir", show_default=False, help="Where the index lives (default: "
                        "$QA_INDEX, else the nearest .qa/ from the current folder up, else index/; docs/usage.md).")
IndexName = typer.Option(None, "--name", help="A named index, kept in qa's user data folder "
                         "(~/.local/share/qa/indexes/NAME on Linux).")
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


@dataclass(frozen=True)
class Where:
    """The shared options, with the index the user named (`chosen`: --index-dir, --name or $QA_INDEX; None
    when none) and the one used (`found`: the chosen one, else the nearest .qa/, else index/), for the
    commands that decide where an index goes (index, eval) or say how it was found (status)."""

    settings: Settings
    chosen: Found | None
    found: Found


def where_from(index_dir: Optional[Path] = IndexDir, name: Optional[str] = IndexName, model: Optional[str] = Model,
               store: Optional[str] = StoreKind, qdrant_url: Optional[str] = QdrantUrl,
               collection: Optional[str] = Collection, reranker: Optional[Path] = Reranker) -> Where:
    chosen = given(index_dir, name)
    found = chosen or find_index()
    return Where(Settings.from_flags(index_dir=found.path, model=model, store=store, qdrant_url=qdrant_url,
                                     collection=collection, reranker=reranker), chosen, found)


def settings_from(index_dir: Optional[Path] = IndexDir, name: Optional[str] = IndexName, model: Optional[str] = Model,
                  store: Optional[str] = StoreKind, qdrant_url: Optional[str] = QdrantUrl,
                  collection: Optional[str] = Collection, reranker: Optional[Path] = Reranker) -> Settings:
    return where_from(index_dir, name, model, store, qdrant_url, collection, reranker).settings


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
    ray: Optional[str] = typer.Option(None, "--ray", metavar="ADDRESS", help="Read and embed on a Ray cluster: "
                                      "local (start one here), auto (the running one) or host:port / "
                                      "ray://host:port (docs/scale-out.md)."),
    device: str = typer.Option("auto", "--device", help="Where the model embeds: auto (a CUDA GPU when "
                               "onnxruntime-gpu finds one, else the CPU), cpu or cuda."),
) -> IndexOptions:
    return IndexOptions(full, from_index, shards, replicas, write_consistency, ray, device)


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


def with_built(**builders: Callable) -> Callable:
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
            with user_errors():
                built = {name: builder(**{k: flags.pop(k) for k in wanted[name]}) for name, builder in builders.items()}
            return command(**flags, **built)

        run.__signature__ = inspect.Signature(parameters)
        run.__annotations__ = annotations
        return run

    return wrap


def fail(error: QAError) -> None:
    typer.echo(f"Error: {error.message}", err=True)
    raise typer.Exit(error.exit_code)


@contextlib.contextmanager
def user_errors():
    """Every QAError becomes `Error: ...` on stderr and a non-zero exit, never a traceback."""
    try:
        yield
    except QAError as error:
        fail(error)
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        raise typer.Exit(130)
