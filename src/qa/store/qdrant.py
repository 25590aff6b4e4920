"""The Qdrant store: a qa index as a Qdrant collection, searched through the Store interface (its write side: qdrant_sync.py)."""

from __future__ import annotations

import functools
import uuid
from typing import Callable

import numpy as np

from ..errors import QAError
from ..ingest.passages import Passage, page_of
from .base import Candidates
from .lexical import Analyzer
from . import qdrant_candidates
from .qdrant_engines import open_engine
from .qdrant_layout import (BM25, FORMAT, FORMAT_VERSION, PASSAGE, SENTENCES, SparseBM25, payload_passage,
                            point_id, record_id, side_name, term_index)

DEFAULT_COLLECTION = "qa"
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
        """Each question's `depth` best by the `passage` vector and `depth` best by `bm25`, scored by the
        engine (store/qdrant_candidates.py: the vectors are fetched only for the rows read)."""
        return qdrant_candidates.search(self, questions, query_vectors, depth)

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

    def pages_of(self, places) -> list[int | None]:
        """One request for the page tables of every document named (kept in its side collection record)."""
        docs = sorted({doc for doc, _ in places})
        found = self.engine.retrieve(self.side, [record_id("doc", doc) for doc in docs], payload=["doc", "pages"])
        tables = {payload["doc"]: [tuple(p) for p in payload["pages"]] for _, _, payload in found if payload.get("pages")}
        return [page_of(tables.get(doc), offset) for doc, offset in places]

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

