"""The Qdrant store's write side: a collection created with its cluster settings and synced with the corpus, or copied from a local index."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import QAError
from ..ingest.passages import Passage, sentence_spans
from .lexical import Analyzer
from .qdrant import DEFAULT_COLLECTION, Warn, _check_manifest, read_manifest
from .qdrant_engines import open_engine
from .qdrant_layout import (BM25, FORMAT, FORMAT_VERSION, PASSAGE, SENTENCES, SparseBM25, average_length,
                            passage_payload, point_id, record_id, side_name, text_parts)

UPSERT_BATCH = 256  # points a request

# a document's passages' vectors: (passages × dimension), and per passage its sentences' vectors and spans
Embed = Callable[[list[Passage]], tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]]


@dataclass(frozen=True)
class Settings:
    """Cluster settings, fixed when the collection is created (docs/scale-out.md says what each trades);
    a field left None takes its default (1) and is not compared with an existing collection's."""

    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None

    OPTIONS = {"shard_number": "--shards", "replication_factor": "--replicas",
               "write_consistency_factor": "--write-consistency"}

    def __post_init__(self) -> None:
        for name, option in self.OPTIONS.items():
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise QAError(f"{option} ({name}) must be a whole number of 1 or more, not {value!r}")
        resolved = self.resolved()
        if resolved["write_consistency_factor"] > resolved["replication_factor"]:
            raise QAError(f"--write-consistency ({resolved['write_consistency_factor']}) cannot exceed --replicas "
                          f"({resolved['replication_factor']}): a write would wait for more replicas than a shard has")

    def resolved(self) -> dict[str, int]:
        return {name: getattr(self, name) or 1 for name in self.OPTIONS}

    def check_against(self, recorded: dict | None, where: str, collection: str) -> None:
        """A QAError when a setting given differs from the one the existing collection was created with."""
        recorded = {**Settings().resolved(), **(recorded or {})}
        differ = [f"{option} {getattr(self, name)} (it has {recorded[name]})" for name, option in self.OPTIONS.items()
                  if getattr(self, name) is not None and getattr(self, name) != recorded[name]]
        if differ:
            raise QAError(f"collection {collection} at {where} was created with other cluster settings: "
                          f"{', '.join(differ)}; they are fixed at creation: index into a new collection to change them")


@dataclass
class DocumentEntry:
    """One document as a sync writes it: its record (doc, kind, sha256, pages, sections), its text
    (a callable, read only when the document is written; None: no text to keep), its passages."""

    record: dict
    text: Callable[[], str]
    passages: list[Passage]

    @property
    def doc(self) -> str:
        return self.record["doc"]


def sync(engine, collection: str, entries: list[DocumentEntry], embed: Embed, *, model: str, dimension: int,
         analyzer: Analyzer, corpus: dict, settings: Settings = Settings(), full: bool = False,
         kept: list[str] = ()) -> dict:
    """Make the collection hold exactly `entries` and the documents `kept` (held as they are, not read
    again: store/corpus.py): a document whose file hash it records is skipped (all of them with `full`:
    written again), a changed or new one is written (its points upserted, then its points no longer
    produced deleted, then its text, then its record), a document it holds that neither names is
    deleted; the manifest record last. Each step is idempotent, so running it
    again after a failure anywhere completes it. Returns what was written, skipped and deleted."""
    side = side_name(collection)
    manifest = read_manifest(engine, collection) if engine.exists(collection) else None
    if manifest is not None:
        _check_manifest(manifest, engine.where, collection, model)
        settings.check_against(manifest.get("settings"), engine.where, collection)
    else:
        cluster = settings.resolved()
        if not engine.exists(collection):
            engine.create(collection, dimension, **cluster)
        if not engine.exists(side):
            engine.create_side(side, **cluster)
        # avgdl is fixed by the first build (a resumed one keeps it): weights need no rewrite as the corpus grows
        manifest = {"kind": "manifest", "format": FORMAT, "format_version": FORMAT_VERSION, "model": model,
                    "dimension": dimension, "analyzer": analyzer.config(), "complete": False,
                    "avgdl": average_length(analyzer, [p for e in entries for p in e.passages]),
                    "settings": cluster, "corpus": corpus}  # what an unfinished build is of (beir_collection)
        engine.upsert(side, [(record_id("manifest"), {}, manifest)])
    encoder = SparseBM25(Analyzer(manifest["analyzer"]["stopwords"], manifest["analyzer"]["stemmer"]),
                         float(manifest["avgdl"]))
    held = {p["doc"]: p for _, _, p in engine.scroll(side, payload=["kind", "doc", "sha256"]) if p.get("kind") == "doc"}
    counts = {"written": 0, "skipped": len(kept), "deleted": 0, "passages_written": 0}
    for entry in entries:
        recorded = held.get(entry.doc, {}).get("sha256")
        if not full and recorded is not None and recorded == entry.record.get("sha256"):
            counts["skipped"] += 1
            continue
        counts["passages_written"] += _write_document(engine, collection, entry, embed, encoder)
        counts["written"] += 1
    for doc in sorted(set(held) - {e.doc for e in entries} - set(kept)):
        engine.delete(collection, doc=doc)
        engine.delete(side, doc=doc)
        counts["deleted"] += 1
    manifest.update(complete=True, corpus=corpus, passage_count=engine.count(collection),
                    built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), last_sync=counts)
    engine.upsert(side, [(record_id("manifest"), {}, manifest)])
    return counts


def _write_document(engine, collection: str, entry: DocumentEntry, embed: Embed, encoder: SparseBM25) -> int:
    """Upsert the document's points, delete its points no longer produced, then its text and record."""
    ids = [point_id(p.id) for p in entry.passages]
    for start in range(0, len(entry.passages), UPSERT_BATCH):
        chunk = entry.passages[start : start + UPSERT_BATCH]
        vectors, sentence_vectors, spans = embed(chunk)
        points = []
        for passage, vector, sentences, passage_spans in zip(chunk, vectors, sentence_vectors, spans):
            named = {PASSAGE: np.asarray(vector, dtype=np.float32).tolist(), BM25: encoder.passage(passage)}
            if len(sentences):
                named[SENTENCES] = np.asarray(sentences, dtype=np.float32).tolist()
            points.append((point_id(passage.id), named, passage_payload(passage, entry.record.get("sha256"),
                                                                          passage_spans)))
        engine.upsert(collection, points)
    engine.delete(collection, doc=entry.doc, keep=ids)
    side = side_name(collection)
    text = entry.text()
    parts = text_parts(text) if text is not None else []  # None: no text to keep (qa text says so)
    part_ids = [record_id("text", entry.doc, i) for i in range(len(parts))]
    for i, (pid, text) in enumerate(zip(part_ids, parts)):
        engine.upsert(side, [(pid, {}, {"kind": "text", "doc": entry.doc, "part": i, "text": text})])
    record = {**entry.record, "kind": "doc", "parts": len(parts), "passages": len(ids)}
    engine.upsert(side, [(record_id("doc", entry.doc), {}, record)])
    engine.delete(side, doc=entry.doc, keep=part_ids + [record_id("doc", entry.doc)])
    return len(ids)


def _record(document) -> dict:
    return {"doc": document.path, "kind": document.kind, "sha256": document.sha256,
            "pages": [list(p) for p in document.pages] if document.pages is not None else None,
            "sections": [[s.start, s.end, s.heading, s.level] for s in document.sections]}


def index_corpus(sources: list[Path], url: str, embedder, collection: str = DEFAULT_COLLECTION, settings: Settings = Settings(),
                 full: bool = False, warn: Warn | None = None) -> dict:
    """Sync the corpus under `sources` into the collection (`qa index --store qdrant`): only the files
    that changed since it was last synced are read, split and embedded (store/corpus.py's scan, as the
    local build's; with `full`, every one)."""
    from .corpus import index_into
    from .vector_reuse import sentence_texts

    encode = getattr(embedder, "encode_passages", embedder.encode)

    def embed(chunk: list[Passage]):
        spans = [np.array(sentence_spans(p), dtype=np.int64).reshape(-1, 2) for p in chunk]
        rows = np.array([(i, a, b) for i, s in enumerate(spans) for a, b in s], dtype=np.int64).reshape(-1, 3)
        vectors = np.asarray(encode([p.embedding_text() for p in chunk]), dtype=np.float32)
        sentences = np.asarray(encode(sentence_texts(chunk, rows)), dtype=np.float32) if len(rows) else \
            np.zeros((0, vectors.shape[1]), dtype=np.float32)
        return vectors, np.split(sentences, np.cumsum([len(s) for s in spans])[:-1]), spans

    engine = open_engine(url)
    try:
        return index_into(CollectionSink(engine, collection, embedder, embed, settings, full), sources, warn)
    finally:
        engine.close()


class CollectionSink:
    """A collection as the corpus pipeline's sink (store/base.py's `Sink`): it holds the documents whose
    records it keeps; `full` takes none as held (every file is read and written again)."""

    def __init__(self, engine, collection: str, embedder, embed: Embed, settings: Settings, full: bool) -> None:
        self.engine, self.collection, self.embedder, self.embed = engine, collection, embedder, embed
        self.settings, self.full = settings, full

    def held(self) -> dict[str, dict]:
        return {} if self.full else held_files(self.engine, self.collection)

    def write(self, scan) -> dict:
        from .corpus import Unchanged
        from .lexical import default_analyzer

        if not sum(f["passages"] for f in scan.files):
            raise QAError("the corpus has no passages to index (every file is empty or furniture)")
        entries = [DocumentEntry(_record(c.document), (lambda d=c.document: d.text), c.passages) for c in scan.changed]
        kept = [name for name, item in scan.entries if isinstance(item, Unchanged)]
        return sync(self.engine, self.collection, entries, self.embed, model=self.embedder.model,
                    dimension=self.embedder.dimension, analyzer=default_analyzer(), corpus=scan.corpus,
                    settings=self.settings, full=self.full, kept=kept)


def held_files(engine, collection: str) -> dict[str, dict]:
    """Each document the collection holds whole (its record is written last) → the file it was made from:
    its sha256 and passage count, and its size and mtime when the last finished sync recorded that file."""
    side = side_name(collection)
    if not engine.exists(collection) or not engine.exists(side):
        return {}
    synced = ((read_manifest(engine, collection) or {}).get("corpus") or {}).get("files") or []
    stats = {f["doc"]: f for f in synced if f.get("sha256")}
    held = {}
    for _, _, p in engine.scroll(side, payload=["kind", "doc", "sha256", "passages"]):
        if p.get("kind") != "doc" or not p.get("sha256"):
            continue
        record = {"sha256": p["sha256"], "passages": int(p.get("passages") or 0)}
        stat = stats.get(p["doc"])
        if stat is not None and stat["sha256"] == p["sha256"]:
            record.update(size=stat.get("size"), mtime_ns=stat.get("mtime_ns"))
        held[p["doc"]] = record
    return held


def from_local_index(index_dir: Path, url: str, collection: str = DEFAULT_COLLECTION,
                     settings: Settings = Settings()) -> dict:
    """Copy the local index at `index_dir` into the collection, embedding nothing
    (`qa index --store qdrant --from-index DIR`)."""
    from .index import load_index

    return copy_index(load_index(Path(index_dir)), url, collection, settings)


def copy_index(index, url: str, collection: str = DEFAULT_COLLECTION, settings: Settings = Settings()) -> dict:
    """Copy a loaded local index's passages, vectors, sentence vectors and documents into the collection."""
    from .local import local_store

    # an index with a delta (store/delta.py) holds its live passages in two segments: the base's live rows, the delta's
    segments = [(index, None)] if index.delta is None else [(index, index.delta.alive), (index.delta.segment, None)]
    rows, parts = {}, []
    for number, (segment, alive) in enumerate(segments):
        for row, p in enumerate(segment.passages):
            if alive is None or alive[row]:
                rows[p.id] = (number, row)
        spans = np.asarray(segment.sentence_spans)
        parts.append((segment.vectors(), segment.sentence_vectors, spans,
                      np.searchsorted(spans[:, 0], np.arange(len(segment.passages) + 1))))

    def embed(chunk: list[Passage]):
        at = [rows[p.id] for p in chunk]
        # sentence vectors kept as float16 locally, written as float32
        return (np.stack([np.asarray(parts[n][0][r]) for n, r in at]).reshape(len(at), -1),
                [np.asarray(parts[n][1][parts[n][3][r]:parts[n][3][r + 1]], dtype=np.float32) for n, r in at],
                [parts[n][2][parts[n][3][r]:parts[n][3][r + 1], 1:] for n, r in at])

    by_doc: dict[str, list[Passage]] = {}
    for p in local_store(index).passages():
        by_doc.setdefault(p.doc, []).append(p)
    hashes = {f["doc"]: f.get("sha256") for f in index.manifest.get("files", [])}
    entries = []
    for doc, passages in by_doc.items():
        record = dict(index.documents.get(doc) or {"doc": doc, "kind": None, "pages": None, "sections": None})
        record.pop("text", None)  # a file name inside the local index: the text itself is copied
        record.setdefault("sha256", hashes.get(doc))
        if record.get("pages"):
            record["pages"] = [list(p) for p in record["pages"]]
        entries.append(DocumentEntry(record, functools.partial(_text_or_none, index, doc), passages))
    corpus = _corpus_of(index)
    engine = open_engine(url)
    try:
        return sync(engine, collection, entries, embed, model=index.model, dimension=int(index.manifest["dimension"]),
                    analyzer=index.bm25.analyzer, corpus=corpus, settings=settings)
    finally:
        engine.close()


def _text_or_none(index, doc: str) -> str | None:
    """The local index's text of `doc`, or None when it cannot give it (a BEIR index keeps none; a .txt
    file moved or changed since it was indexed): the passages are copied all the same."""
    try:
        return index.text(doc)
    except QAError:
        return None


def _corpus_of(index) -> dict:
    """The corpus record a copy of the local `index` keeps in the collection's manifest."""
    return {k: index.manifest[k] for k in ("sources", "files", "beir") if k in index.manifest}


def _corpus_files(corpus: dict | None) -> list:
    """What identifies a corpus: each file's name and hash."""
    return sorted((f.get("doc"), f.get("sha256")) for f in (corpus or {}).get("files", []))


def reach(url: str) -> None:
    """A QAError (503) when the Qdrant at `url` cannot be reached or opened: said before a model loads."""
    engine = open_engine(url)
    try:
        engine.exists(DEFAULT_COLLECTION)
    finally:
        engine.close()


def beir_collection(index, url: str, collection: str, warn: Warn | None = None):
    """The collection holding the local BEIR `index` (`qa eval --beir DIR --store qdrant`), opened: copied
    from it when missing or unfinished (nothing embedded), reused when it holds it; a QAError (409) when it
    holds another corpus (or this corpus.jsonl before it changed: the hashes are compared)."""
    from .qdrant import QdrantStore

    engine = open_engine(url)
    try:
        exists = engine.exists(collection)
        manifest = read_manifest(engine, collection) if exists else None
        where = engine.where
    finally:
        engine.close()
    wanted = _corpus_of(index)
    if exists and manifest is not None:
        _check_manifest(manifest, where, collection, index.model)
        held = manifest.get("corpus") or {}
        if _corpus_files(held) != _corpus_files(wanted):  # the same corpus.jsonl by its hash, wherever it is
            what = ", ".join(held.get("sources") or []) or "a corpus it does not name"
            changed = [Path(s).resolve() for s in held.get("sources") or []] == \
                [Path(s).resolve() for s in wanted["sources"]]
            raise QAError(f"collection {collection} at {where} holds {what}"
                          f"{' as it was before it changed' if changed else ''}, not the BEIR corpus "
                          f"{', '.join(wanted['sources'])}: give another --collection", status=409)
    elif exists:
        raise QAError(f"collection {collection} at {where} is not a qa collection: give another --collection",
                      status=409)
    if manifest is None or not manifest.get("complete"):
        if warn:
            warn(f"copying the BEIR index {index.path} into collection {collection} at {where} (reused next time)")
        copy_index(index, url, collection)
    return QdrantStore.open(url, collection, model=index.model)
