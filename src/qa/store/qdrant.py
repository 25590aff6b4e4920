"""The Qdrant store: a qa index as a Qdrant collection, searched through the Store interface and synced with the corpus."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import QAError
from ..ingest.passages import Passage, page_of, sentence_spans
from .base import Candidates
from .lexical import Analyzer
from .qdrant_engines import open_engine
from .qdrant_layout import (BM25, FORMAT, FORMAT_VERSION, PASSAGE, SENTENCES, SparseBM25, average_length,
                            passage_payload, payload_passage, point_id, record_id, side_name, term_index, text_parts)

DEFAULT_COLLECTION = "qa"
UPSERT_BATCH = 256  # points a request

# a document's passages' vectors: (passages × dimension), and per passage its sentences' vectors and spans
Embed = Callable[[list[Passage]], tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]]
Warn = Callable[[str], None]


def _run_index(url: str, collection: str) -> str:
    return f"run `qa index --store qdrant --qdrant-url {url} --collection {collection}`"


def read_manifest(engine, collection: str) -> dict | None:
    """The collection's manifest record, or None when the side collection or the record is missing."""
    side = side_name(collection)
    if not engine.exists(side):
        return None
    found = engine.retrieve(side, [record_id("manifest")], payload=True)
    return found[0][2] if found else None


def _check_manifest(manifest: dict | None, where: str, collection: str, model: str | None) -> dict:
    if manifest is None:
        raise QAError(f"no collection {collection} at {where}: {_run_index(where, collection)}", status=503)
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise QAError(f"collection {collection} at {where} is not a qa collection of format version "
                      f"{FORMAT_VERSION}: {_run_index(where, collection)} into a new collection", status=503)
    if model is not None and manifest.get("model") != model:
        raise QAError(f"collection {collection} at {where} was built with model {manifest.get('model')!r}, "
                      f"not {model!r}: index into another collection or ask with that model", status=409)
    return manifest


class QdrantStore:
    """A collection and its side collection, searched as the retriever asks (store/base.py's Store)."""

    def __init__(self, engine, collection: str, manifest: dict) -> None:
        self.engine = engine
        self.collection = collection
        self.side = side_name(collection)
        self.manifest = manifest
        self.analyzer = Analyzer(manifest["analyzer"]["stopwords"], manifest["analyzer"]["stemmer"])
        self.bm25 = SparseBM25(self.analyzer, float(manifest["avgdl"]))
        self.stem = functools.lru_cache(maxsize=1 << 16)(self.analyzer.fold)

    @classmethod
    def open(cls, url: str, collection: str = DEFAULT_COLLECTION, model: str | None = None) -> "QdrantStore":
        """The store at `url` (a server URL, a local-mode folder, or edge:FOLDER); QAError (503) when it cannot
        be reached or holds no finished qa collection `collection`, (409) when built with another `model`."""
        engine = open_engine(url)
        try:
            manifest = _check_manifest(read_manifest(engine, collection) if engine.exists(collection) else None,
                                       engine.where, collection, model)
            if not manifest.get("complete"):
                raise QAError(f"collection {collection} at {engine.where} is incomplete (a build did not finish): "
                              f"{_run_index(engine.where, collection)} again to complete it", status=503)
        except BaseException:
            engine.close()
            raise
        return cls(engine, collection, manifest)

    def close(self) -> None:
        self.engine.close()

    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def count(self) -> int:
        return self.engine.count(self.collection)

    def candidates(self, questions: list[str], query_vectors: np.ndarray, depth: int) -> Candidates:
        """Each question's `depth` best by the `passage` vector and `depth` best by `bm25`; then every
        candidate's exact cosine (from its vector) and its BM25 score for each question (a second
        sparse query filtered to the candidates' ids: the engine's IDF, 0 for a passage without the terms)."""
        query_vectors = np.asarray(query_vectors, dtype=np.float32)
        sparse = [self.bm25.question(q) for q in questions]
        asked = [q for q, (indices, _) in enumerate(sparse) if indices]
        dense_hits = self.engine.search(self.collection, PASSAGE, [v.tolist() for v in query_vectors], depth)
        lexical_hits = dict(zip(asked, self.engine.search(self.collection, BM25, [sparse[q] for q in asked], depth)))
        found = [{pid for pid, _ in dense_hits[q]} | {pid for pid, _ in lexical_hits.get(q, ())}
                 for q in range(len(questions))]
        records = self.engine.retrieve(self.collection, sorted(set().union(*found)), payload=True,
                                       vectors=[PASSAGE, SENTENCES])
        records.sort(key=lambda r: (r[2]["doc"], r[2]["ordinal"]))  # corpus order, as the local store's rows
        ids = [pid for pid, _, _ in records]
        column = {pid: i for i, pid in enumerate(ids)}
        dimension = int(self.manifest["dimension"])
        vectors = np.array([r[1][PASSAGE] for r in records], dtype=np.float32).reshape(len(records), dimension)
        lexical = np.zeros((len(questions), len(ids)), dtype=np.float32)
        if ids:
            for q, hits in zip(asked, self.engine.search(self.collection, BM25, [sparse[q] for q in asked],
                                                         len(ids), ids=ids)):
                for pid, score in hits:
                    lexical[q, column[pid]] = score
        member = np.zeros((len(questions), len(ids)), dtype=bool)
        for q, pids in enumerate(found):
            member[q, [column[p] for p in pids]] = True
        if member.all() and len(ids) == self.count:
            member = None  # every passage is every question's candidate: an exact search, as the local store's
        sentence_vectors, spans = [], []
        for i, (_, named, payload) in enumerate(records):
            multi = named.get(SENTENCES) or []
            if len(multi) != len(payload["sentences"]):
                raise QAError(f"collection {self.collection} at {self.engine.where} is damaged (passage "
                              f"{payload['id']} has {len(multi)} sentence vectors for {len(payload['sentences'])} "
                              f"sentences): {_run_index(self.engine.where, self.collection)} --full", status=503)
            sentence_vectors += multi
            spans += [(i, a, b) for a, b in payload["sentences"]]
        return Candidates(
            passages=[payload_passage(r[2]) for r in records],
            keys=np.array([uuid.UUID(pid).int >> 65 for pid in ids], dtype=np.int64),
            dense=query_vectors @ vectors.T, lexical=lexical, member=member, vectors=vectors,
            sentence_vectors=np.array(sentence_vectors, dtype=np.float32).reshape(len(spans), dimension),
            sentence_spans=np.array(spans, dtype=np.int64).reshape(len(spans), 3))

    def passages(self):
        return (payload_passage(payload) for _, _, payload in self.engine.scroll(self.collection))

    def passage(self, passage_id: str) -> Passage | None:
        found = self.engine.retrieve(self.collection, [point_id(passage_id)], payload=True)
        return payload_passage(found[0][2]) if found else None

    def neighbours(self, passage_id: str) -> tuple[str | None, str | None]:
        found = self.engine.retrieve(self.collection, [point_id(passage_id)], payload=["doc", "ordinal"])
        if not found:
            return None, None
        doc, ordinal = found[0][2]["doc"], int(found[0][2]["ordinal"])
        near = {int(p["ordinal"]): p["id"] for _, _, p in self.engine.scroll(
            self.collection, doc=doc, payload=["id", "ordinal"], ordinals=(ordinal - 1, ordinal + 1))}
        return near.get(ordinal - 1), near.get(ordinal + 1)

    def _document(self, doc: str, keys: list[str] | bool = True) -> dict | None:
        found = self.engine.retrieve(self.side, [record_id("doc", doc)], payload=keys)
        return found[0][2] if found else None

    def page_of(self, doc: str, offset: int) -> int | None:
        record = self._document(doc, ["pages"])
        return page_of([tuple(p) for p in record["pages"]], offset) if record and record.get("pages") else None

    def text(self, doc: str) -> str:
        record = self._document(doc, ["parts"])
        if record is None:
            raise QAError(f"no document named {doc!r} in this index", status=404)
        if not record["parts"]:
            raise QAError(f"collection {self.collection} holds no text of {doc} (it was copied from a local "
                          f"index that could not give it)", status=404)
        parts = self.engine.retrieve(self.side, [record_id("text", doc, i) for i in range(record["parts"])],
                                     payload=["part", "text"])
        if len(parts) != record["parts"]:
            raise QAError(f"the text of {doc} is missing from collection {self.collection}: "
                          f"{_run_index(self.engine.where, self.collection)}", status=404)
        return "".join(p[2]["text"] for p in sorted(parts, key=lambda p: p[2]["part"]))

    def knows(self, word: str) -> bool:
        """Whether every term of `word` has a passage holding it (a one-term sparse query each): the
        collection's own postings are its vocabulary, so nothing else must be kept in step with it."""
        terms = self.analyzer(word)
        hits = self.engine.search(self.collection, BM25, [([term_index(t)], [1.0]) for t in terms], 1)
        return all(hits)

    def describe(self) -> dict:
        return {"store": "qdrant", "passage_count": self.count, "model": self.model,
                "built_at": self.manifest.get("built_at"), "engine": type(self.engine).__name__,
                "url": self.engine.where, "collection": self.collection}


def open_retriever(url: str, collection: str = DEFAULT_COLLECTION, model: str | None = None,
                   warn: Warn | None = None):
    """A Retriever over the collection with the embedder of `model` (`qa ask --store qdrant`)."""
    from ..embed import load_embedder, resolve_model
    from ..search.retrieval import Retriever

    store = QdrantStore.open(url, collection, model=resolve_model(model).name)  # before the model loads
    try:
        return Retriever(store, load_embedder(model, warn=warn))
    except BaseException:
        store.close()
        raise


# --- the write side -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Cluster settings, fixed when the collection is created (docs/scale-out.md says what each trades)."""

    shard_number: int = 1
    replication_factor: int = 1
    write_consistency_factor: int = 1


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
         analyzer: Analyzer, corpus: dict, settings: Settings = Settings(), full: bool = False) -> dict:
    """Make the collection hold exactly `entries`: a document whose file hash it records is skipped
    (all of them with `full`: written again), a changed or new one is written (its points upserted,
    then its points no longer produced deleted, then its text, then its record), a document it holds
    that `entries` lacks is deleted; the manifest record last. Each step is idempotent, so running it
    again after a failure anywhere completes it. Returns what was written, skipped and deleted."""
    side = side_name(collection)
    manifest = read_manifest(engine, collection) if engine.exists(collection) else None
    if manifest is not None:
        _check_manifest(manifest, engine.where, collection, model)
    else:
        if not engine.exists(collection):
            engine.create(collection, dimension, settings.shard_number, settings.replication_factor,
                          settings.write_consistency_factor)
        if not engine.exists(side):
            engine.create_side(side, settings.shard_number, settings.replication_factor,
                               settings.write_consistency_factor)
        # avgdl is fixed by the first build (a resumed one keeps it): weights need no rewrite as the corpus grows
        manifest = {"kind": "manifest", "format": FORMAT, "format_version": FORMAT_VERSION, "model": model,
                    "dimension": dimension, "analyzer": analyzer.config(), "complete": False,
                    "avgdl": average_length(analyzer, [p for e in entries for p in e.passages]),
                    "settings": vars(settings)}
        engine.upsert(side, [(record_id("manifest"), {}, manifest)])
    encoder = SparseBM25(Analyzer(manifest["analyzer"]["stopwords"], manifest["analyzer"]["stemmer"]),
                         float(manifest["avgdl"]))
    held = {p["doc"]: p for _, _, p in engine.scroll(side, payload=["kind", "doc", "sha256"]) if p.get("kind") == "doc"}
    counts = {"written": 0, "skipped": 0, "deleted": 0, "passages_written": 0}
    for entry in entries:
        recorded = held.get(entry.doc, {}).get("sha256")
        if not full and recorded is not None and recorded == entry.record.get("sha256"):
            counts["skipped"] += 1
            continue
        counts["passages_written"] += _write_document(engine, collection, entry, embed, encoder)
        counts["written"] += 1
    for doc in sorted(set(held) - {e.doc for e in entries}):
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
    """Read, split and embed the corpus under `sources` into the collection, embedding only the
    documents whose file changed since it was last synced (`qa index --store qdrant`)."""
    from ..ingest.files import read_documents
    from ..ingest.passages import split_documents
    from .build import _file_records
    from .lexical import default_analyzer
    from .vector_reuse import sentence_texts

    documents = read_documents([Path(s) for s in sources], warn=warn)
    passages = split_documents(documents)
    if not passages:
        raise QAError("the corpus has no passages to index (every file is empty or furniture)")
    by_doc: dict[str, list[Passage]] = {}
    for p in passages:
        by_doc.setdefault(p.doc, []).append(p)
    entries = [DocumentEntry(_record(d), (lambda d=d: d.text), by_doc.get(d.path, []))
               for d in documents]
    encode = getattr(embedder, "encode_passages", embedder.encode)

    def embed(chunk: list[Passage]):
        spans = [np.array(sentence_spans(p), dtype=np.int64).reshape(-1, 2) for p in chunk]
        rows = np.array([(i, a, b) for i, s in enumerate(spans) for a, b in s], dtype=np.int64).reshape(-1, 3)
        vectors = np.asarray(encode([p.embedding_text() for p in chunk]), dtype=np.float32)
        sentences = np.asarray(encode(sentence_texts(chunk, rows)), dtype=np.float32) if len(rows) else \
            np.zeros((0, vectors.shape[1]), dtype=np.float32)
        return vectors, np.split(sentences, np.cumsum([len(s) for s in spans])[:-1]), spans

    resolved = [Path(s).resolve() for s in sources]
    corpus = {"sources": [str(s) for s in resolved], "files": _file_records(resolved, {d.path: d.sha256 for d in documents},
                                                                                 {d: len(p) for d, p in by_doc.items()})}
    engine = open_engine(url)
    try:
        return sync(engine, collection, entries, embed, model=embedder.model, dimension=embedder.dimension,
                    analyzer=default_analyzer(), corpus=corpus, settings=settings, full=full)
    finally:
        engine.close()


def from_local_index(index_dir: Path, url: str, collection: str = DEFAULT_COLLECTION,
                     settings: Settings = Settings()) -> dict:
    """Copy the local index at `index_dir` into the collection, embedding nothing
    (`qa index --store qdrant --from-index DIR`)."""
    from .index import load_index

    return copy_index(load_index(Path(index_dir)), url, collection, settings)


def copy_index(index, url: str, collection: str = DEFAULT_COLLECTION, settings: Settings = Settings()) -> dict:
    """Copy a loaded local index's passages, vectors, sentence vectors and documents into the collection."""
    rows = {p.id: row for row, p in enumerate(index.passages)}
    spans = np.asarray(index.sentence_spans)
    bounds = np.searchsorted(spans[:, 0], np.arange(len(index.passages) + 1))
    vectors = index.vectors()

    def embed(chunk: list[Passage]):
        at = [rows[p.id] for p in chunk]
        return (np.asarray(vectors[at]),  # sentence vectors kept as float16 locally, written as float32
                [np.asarray(index.sentence_vectors[bounds[r]:bounds[r + 1]], dtype=np.float32) for r in at],
                [spans[bounds[r]:bounds[r + 1], 1:] for r in at])

    by_doc: dict[str, list[Passage]] = {}
    for p in index.passages:
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
    corpus = {k: index.manifest[k] for k in ("sources", "files") if k in index.manifest}
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
