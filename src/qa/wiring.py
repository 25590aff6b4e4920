"""The wiring: the one place that opens a store with its model, building it when asked (cli, serve and eval call it).

Layers: config/errors/cache < ingest < embed < store < search < wiring < serve/evaluation < cli. A store
is one entry of `STORES` (how to open it, index into it, and copy a BEIR index into it); nothing above
this module asks which store it is (docs/stores.md).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import embed
from .embed.device import select_device
from .config import Settings
from .errors import QAError
from .search.retrieval import Retriever

Warn = Callable[[str], None]
DEFAULT_CORPUS = Path("corpus")


@dataclass(frozen=True)
class IndexOptions:
    """How `qa index` writes: `full` embeds every text again; `from_index` copies a local index (Qdrant);
    `shards`, `replicas`, `write_consistency` are a new Qdrant collection's cluster settings; `ray`, a
    Ray cluster to read and embed on (src/qa/scaleout/); `device`, auto, cpu or cuda."""

    full: bool = False
    from_index: Path | None = None
    shards: int | None = None
    replicas: int | None = None
    write_consistency: int | None = None
    ray: str | None = None
    device: str = "auto"


@dataclass(frozen=True)
class Indexed:
    """What `qa index` made: `record` (what --json prints) and `summary` (the line printed otherwise)."""

    record: dict
    summary: str


def load_embedder(settings: Settings, kept: tuple[Path, dict] | None = None, warn: Warn | None = None,
                  lazy: bool = False, device: str = "cpu"):
    """The embedder of `settings`' model and backend (`kept`: an index's own ONNX file; `device`: "cpu"
    or "cuda", as `embed.device.select_device` chose)."""
    return embed.load_embedder(settings.model, kept=kept, warn=warn, lazy=lazy, backend=settings.backend,
                               device=device)


def model_name(settings: Settings) -> str:
    """The name a store records for `settings`' model."""
    return embed.resolve_model(settings.model).name


# --- the local folder ------------------------------------------------------------------------------


def _load_side_by_side(settings: Settings, warn: Warn | None):
    """The index and its embedder, the latter loaded in a thread meanwhile (ONNX Runtime releases the GIL)."""
    from .store.local.index import kept_onnx, load_index

    box: dict = {}

    def load() -> None:
        try:
            box["embedder"] = load_embedder(settings, kept=kept_onnx(settings.index_dir, settings.model), warn=warn)
        except BaseException as exc:  # re-raised below, in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=load, name="qa-load-embedder", daemon=True)
    thread.start()
    try:
        index = load_index(settings.index_dir)
    finally:
        thread.join()
    if "error" in box:
        raise box["error"]
    return index, box["embedder"]


class LocalFolder:
    """The local store: the index folder `settings.index_dir` (FAISS + BM25 files), searched in this process."""

    remote = False  # rebuilt in place by `qa index`: a server reloads it when its manifest changes

    @staticmethod
    def check(settings: Settings) -> None:
        pass

    @staticmethod
    def open_store(settings: Settings, model: str | None = None):
        from .store.local.index import load_index
        from .store.local.store import local_store

        return local_store(load_index(settings.index_dir))

    @staticmethod
    def open_retriever(settings: Settings, build_if_missing: bool, corpus: list[Path] | None,
                       warn: Warn | None, progress) -> Retriever:
        """The index folder and its embedder; with `build_if_missing`, built first from `corpus` when
        missing, or from its own sources when stale (said via `warn`)."""
        from .store.local.index import index_exists, read_manifest, stale_reason

        index_dir = settings.index_dir
        if not build_if_missing:
            return Retriever(*_load_side_by_side(settings, warn))
        if index_exists(index_dir):
            manifest = read_manifest(index_dir)
            reason = stale_reason(manifest, model_name(settings))
            if reason is None:
                return Retriever(*_load_side_by_side(settings, warn))
            if manifest.get("beir"):
                raise QAError(f"index at {index_dir} was built by `qa eval --beir` and is stale ({reason}): "
                              f"run `qa eval --beir FOLDER` again to rebuild it")
            if warn:
                warn(f"index is stale ({reason}); rebuilding it")
            sources = [Path(s) for s in manifest["sources"]]
        else:
            from .ingest.files import find_files

            sources = list(corpus or [DEFAULT_CORPUS])
            try:
                find_files(sources)  # before the model loads: a missing corpus is said at once
            except QAError as error:
                raise QAError(f"no index at {index_dir}/ and none can be built ({error.message}): run "
                              f"`qa index FOLDER` first (it makes FOLDER/.qa, found from FOLDER and any folder "
                              f"below), or give --index-dir DIR or --name NAME") from None
            if warn:
                warn(f"no index at {index_dir}; building it")
        return Retriever(*LocalFolder._build(settings, sources, warn, progress))

    @staticmethod
    def _build(settings: Settings, sources: list[Path], warn: Warn | None, progress):
        from .store.local.build import build_index
        from .store.local.folder import check_index_target
        from .store.local.index import kept_onnx

        check_index_target(settings.index_dir, sources)  # before the model loads, as above
        # the old index's ONNX model
        embedder = load_embedder(settings, kept=kept_onnx(settings.index_dir, settings.model), warn=warn)
        return build_index(sources, settings.index_dir, embedder, warn=warn, progress=progress), embedder

    @staticmethod
    def index_corpus(settings: Settings, sources: list[Path], options: IndexOptions, warn: Warn | None,
                     progress) -> Indexed:
        from .store.local.build import build_index
        from .store.local.folder import check_index_target

        if options.from_index is not None or \
                any(v is not None for v in (options.shards, options.replicas, options.write_consistency)):
            raise QAError("--from-index, --shards, --replicas and --write-consistency go with --store qdrant")
        check_index_target(settings.index_dir, sources)  # before the model loads: a wrong folder is said at once
        started = time.monotonic()
        if options.ray is not None:  # Ray is imported only here
            from .scaleout import build_on_cluster

            index = build_on_cluster(sources, settings.index_dir, options.ray, settings.model, options.device,
                                     reuse=not options.full, warn=warn, progress=progress,
                                     backend=settings.backend)[0]
        else:
            embedder = load_embedder(settings, warn=warn, lazy=True, device=select_device(options.device))
            index = build_index(sources, settings.index_dir, embedder, warn=warn, progress=progress,
                                reuse=not options.full)
        return Indexed({k: index.manifest[k] for k in ("model", "passage_count", "built_at", "files", "texts")},
                       index_summary(index, settings.index_dir, time.monotonic() - started))

    @staticmethod
    def beir_store(settings: Settings, index, warn: Warn | None):
        from .store.local.store import local_store

        return local_store(index)


# --- Qdrant ----------------------------------------------------------------------------------------


class Qdrant:
    """The Qdrant store: collection `settings.collection` at `settings.qdrant_url` (docs/scale-out.md)."""

    remote = True  # stateless and maybe not up yet: a server tries to open it again every second

    @staticmethod
    def check(settings: Settings) -> None:
        if not settings.qdrant_url:
            raise QAError("--store qdrant needs --qdrant-url URL (or $QA_QDRANT_URL): http(s)://host:port or a folder")

    @staticmethod
    def open_store(settings: Settings, model: str | None = None):
        from .store.qdrant.store import QdrantStore

        return QdrantStore.open(settings.qdrant_url, settings.collection, model=model)

    @staticmethod
    def open_retriever(settings: Settings, build_if_missing: bool, corpus: list[Path] | None,
                       warn: Warn | None, progress) -> Retriever:
        """The collection and the embedder of its model (a collection is never built here: `qa index`)."""
        store = Qdrant.open_store(settings, model_name(settings))  # before the model loads
        try:
            return Retriever(store, load_embedder(settings, warn=warn))
        except BaseException:
            store.close()
            raise

    @staticmethod
    def index_corpus(settings: Settings, sources: list[Path], options: IndexOptions, warn: Warn | None,
                     progress) -> Indexed:
        from .store.qdrant import sync as qdrant_sync

        url, collection = settings.qdrant_url, settings.collection
        cluster = qdrant_sync.Settings(options.shards, options.replicas, options.write_consistency)
        if options.from_index is not None and options.ray is not None:
            raise QAError("--from-index copies an index, embedding nothing: it has no use for --ray")
        if options.from_index is not None:
            counts = qdrant_sync.from_local_index(options.from_index, url, collection, cluster)
        elif options.ray is not None:  # read and embedded on the cluster, upserted from here
            from .scaleout import on_cluster

            with on_cluster(options.ray, settings.model, options.device, settings.backend, warn) as parts:
                embedder, reader, _ = parts
                counts = qdrant_sync.index_corpus(sources, url, embedder, collection, cluster, full=options.full,
                                                  warn=warn, reader=reader)
        else:
            device = select_device(options.device)
            counts = qdrant_sync.index_corpus(sources, url, load_embedder(settings, warn=warn, device=device),
                                              collection, cluster, full=options.full, warn=warn)
        return Indexed({"collection": collection, "url": url, **counts},
                       f"Synced collection {collection} at {url}: {counts['written']} file(s) written "
                       f"({counts['passages_written']} passages), {counts['skipped']} unchanged, "
                       f"{counts['deleted']} deleted")

    @staticmethod
    def beir_store(settings: Settings, index, warn: Warn | None):
        """The collection holding a copy of the local BEIR index (copied once, then reused)."""
        from .store.qdrant.sync import beir_collection

        return beir_collection(index, settings.qdrant_url, settings.collection, warn=warn)

    @staticmethod
    def reach(settings: Settings) -> None:
        from .store.qdrant.sync import reach

        reach(settings.qdrant_url)


STORES = {"local": LocalFolder, "qdrant": Qdrant}


def _store(settings: Settings):
    """The entry of `settings.store`, or a QAError saying which stores there are."""
    entry = STORES.get(settings.store)
    if entry is None:
        raise QAError(f"--store must be {' or '.join(STORES)}, not {settings.store!r}")
    entry.check(settings)
    return entry


# --- what the front ends call ----------------------------------------------------------------------


def check(settings: Settings) -> None:
    """A QAError when `settings` name no store, or lack what theirs needs (before anything loads)."""
    _store(settings)


def is_remote(settings: Settings) -> bool:
    """True for a store reached over a network and kept by someone else (a server retries opening it)."""
    return _store(settings).remote


def open_store(settings: Settings):
    """The store of `settings`, opened as it is, with no model check (`qa text`); `close()` it after."""
    return _store(settings).open_store(settings)


def open_retriever(settings: Settings, *, build_if_missing: bool = False, corpus: list[Path] | None = None,
                   embedder=None, warn: Warn | None = None, progress=None) -> Retriever:
    """A Retriever over the store of `settings` with the embedder of its model (`close()` it after).

    With `build_if_missing`, a local index folder that is missing (built from `corpus`, default corpus/)
    or stale is built first; a remote store is opened as it is. `embedder`, one already loaded for
    `settings` (a server keeps one while it retries a remote store), is used instead of loading one.
    """
    entry = _store(settings)
    if embedder is not None:
        store = entry.open_store(settings, model_name(settings))
        try:
            retriever = Retriever(store, embedder)
        except BaseException:
            store.close()
            raise
    else:
        retriever = entry.open_retriever(settings, build_if_missing, corpus, warn, progress)
    retriever.second_stage.cross_encoder_dir = settings.reranker  # rerank=cross's model (search/rerank.py)
    return retriever


def index_corpus(settings: Settings, sources: list[Path], options: IndexOptions = IndexOptions(),
                 warn: Warn | None = None, progress=None) -> Indexed:
    """Index the files under `sources` into the store of `settings` (only what changed is embedded)."""
    return _store(settings).index_corpus(settings, sources, options, warn, progress)


def reach(settings: Settings) -> None:
    """A QAError (503) when the store of `settings` cannot be reached: said before a model loads."""
    reach_store = getattr(_store(settings), "reach", None)
    if reach_store is not None:
        reach_store(settings)


def beir_store(settings: Settings, index, warn: Warn | None = None):
    """The store to search a local BEIR `index` in: the index itself, or its copy in the store of `settings`."""
    return _store(settings).beir_store(settings, index, warn)


def index_summary(index, index_dir: Path, seconds: float) -> str:
    """`Indexed 536 passages (53 PDF pages) from 7 files into idx/ in 13.1 s`, and what was reused."""
    manifest = index.manifest
    files = sum(1 for f in manifest["files"] if not f.get("skipped"))
    pages = sum(len(r["pages"]) for r in index.documents.values() if r.get("kind") == "pdf" and r.get("pages"))
    texts = manifest["texts"]
    return (f"Indexed {manifest['passage_count']:,} passages" + (f" ({pages:,} PDF pages)" if pages else "")
            + f" from {files:,} file{'s' if files != 1 else ''} into {index_dir}/ in {seconds:.1f} s"
            + (f" (embedded {texts['embedded']:,} new texts, reused {texts['reused']:,})" if texts["reused"] else ""))
