"""Two ways to reach Qdrant behind one thin adapter: qdrant-client (a server, a cluster, or its local mode) and qdrant-edge-py.

`open_engine(url)`: `http(s)://host:port` is a Qdrant server or cluster, `edge:FOLDER` Qdrant's
own Rust shard in-process (qdrant-edge-py: one shard a collection, in FOLDER/NAME), any other
string a folder for qdrant-client's embedded local mode (`QdrantClient(path=...)`, a Python
re-implementation). Both libraries are imported here only, when a Qdrant store is opened.

A point is (id, vectors, payload): vectors by name, a dense one a list of floats, the multivector
a list of them, the sparse one (indices, values). Searches take a batch of query vectors and
return, per query, (id, score) pairs best first (a `sentences` query is a list of vectors: MAX_SIM).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

from ...errors import QAError, Unreachable
from .layout import BM25, PASSAGE, SENTENCES

Point = tuple[str, dict, dict]
TIMEOUT = 10  # seconds a server request may take


def open_engine(url: str, timeout: float = TIMEOUT, create: bool = False):
    """The engine at `url`. A folder (local mode, edge:) is written only when it is Qdrant's own: a
    reader (`create` False) needs one that holds Qdrant's storage already; a writer may also create it
    or take an empty one, never a folder of other files (a user's documents, another program's meta.json)."""
    url = str(url)
    if url.startswith("edge:"):
        folder = Path(url[len("edge:"):]).expanduser()
        _check_folder(folder, url, create, _is_edge_storage)
        return EdgeEngine(folder)
    if url.startswith(("http://", "https://")):
        _check_url(url)
    else:
        _check_folder(Path(url).expanduser(), url, create, _is_local_storage)
    return ClientEngine(url, timeout)


# Qdrant's own rule for a collection name on a server is loose (no "/" and a few others); qa also names
# folders by it (edge:FOLDER/NAME, the local mode's collection/NAME), so it takes only plain names.
COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")


def check_collection(name: str) -> str:
    """`name`, or a QAError when it cannot be a collection's name (empty, a path, '..')."""
    if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name):
        raise QAError(f"--collection {name!r} is not a collection name: use letters, digits, '_', '-' and "
                      f"'.', starting with a letter or digit (at most 200)")
    return name


def check_target(url: str, collection: str) -> None:
    """A QAError, before anything is read or embedded, when a build could not write `collection` at `url`."""
    check_collection(collection)
    if url.startswith(("http://", "https://")):
        _check_url(url)
    else:
        folder = url[len("edge:"):] if url.startswith("edge:") else url
        _check_folder(Path(folder).expanduser(), url, True, _is_edge_storage if url.startswith("edge:") else
                      _is_local_storage)


def _check_url(url: str) -> None:
    """A QAError when the server URL cannot be parsed (a bad host or a port past 65535)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
        if not parts.hostname:
            raise ValueError("no host")
    except ValueError as exc:
        raise QAError(f"--qdrant-url {url!r} is not a valid URL ({exc}): give http(s)://host:port") from None


def _is_local_storage(folder: Path) -> bool:
    """Whether `folder` holds qdrant-client's local-mode storage (its meta.json lists collections)."""
    import json

    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and isinstance(meta.get("collections"), dict) and \
        set(os.listdir(folder)) <= {"meta.json", ".lock", "collection"}


def _is_edge_storage(folder: Path) -> bool:
    """Whether every entry of `folder` is an edge shard qa wrote (FOLDER/NAME/edge_config.json)."""
    entries = list(folder.iterdir())
    return bool(entries) and all((entry / "edge_config.json").is_file() for entry in entries)


def _check_folder(folder: Path, url: str, create: bool, is_storage) -> None:
    if folder.is_dir():
        try:
            empty = not any(folder.iterdir())
            if is_storage(folder) or (create and empty):
                return
        except OSError as exc:
            raise QAError(f"cannot read the Qdrant folder {url} ({exc.strerror})", status=503) from None
        if not empty:
            raise QAError(f"{url} is not a folder of Qdrant's storage (it holds other files): qa writes only "
                          f"into a new or empty folder or one Qdrant wrote; nothing was changed")
    elif folder.exists():
        raise QAError(f"{url} is a file, not a folder of Qdrant's storage; nothing was changed")
    if not create:
        raise NoStorage(f"no Qdrant storage at {url}: build one with `qa index --store qdrant --qdrant-url {url}`",
                        status=503)


class NoStorage(QAError):
    """A reader's folder (local mode, edge:) holds no Qdrant storage: it is never made by reading."""


# The `sentences` multivector is only fetched with its passage (never searched by itself): no HNSW graph
# for it (m=0), which would cost more to build than the passages' own; kept as float16, as the local
# store keeps them (the same figures to 4 decimals, half the storage).


class ClientEngine:
    """Through qdrant-client: a server or cluster at a URL, or the local mode in a folder."""

    def __init__(self, url: str, timeout: float) -> None:
        from qdrant_client import QdrantClient, models

        self.models = models
        self.where = url
        self.remote = url.startswith(("http://", "https://"))
        try:
            self.client = QdrantClient(url=url, timeout=timeout, check_compatibility=False) if self.remote else \
                QdrantClient(path=str(Path(url).expanduser()))
        except RuntimeError as exc:  # the local mode's folder is open in another client
            raise QAError(f"cannot open Qdrant's local storage at {url} ({exc})", status=503) from None

    def _call(self, method: str, *args, **kwargs):
        """A client call, any failure to reach the server said in one line (503)."""
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        try:
            return getattr(self.client, method)(*args, **kwargs)
        except UnexpectedResponse as exc:
            raise QAError(f"Qdrant at {self.where} refused {method} (HTTP {exc.status_code}: "
                          f"{exc.reason_phrase})", status=503) from None
        except (ResponseHandlingException, OSError) as exc:
            raise Unreachable(f"Qdrant at {self.where} is unreachable ({exc})") from None
        except Exception as exc:  # grpc, httpx and the local mode's errors have no common base
            if type(exc).__module__.startswith(("grpc", "httpx", "httpcore")):
                raise Unreachable(f"Qdrant at {self.where} is unreachable ({exc})") from None
            raise

    def exists(self, name: str) -> bool:
        return bool(self._call("collection_exists", name))

    def create(self, name: str, dimension: int, shard_number: int, replication_factor: int,
               write_consistency_factor: int) -> None:
        m = self.models
        self._call("create_collection", name,
                   vectors_config={PASSAGE: m.VectorParams(size=dimension, distance=m.Distance.COSINE),
                                   SENTENCES: m.VectorParams(size=dimension, distance=m.Distance.COSINE,
                                                             multivector_config=m.MultiVectorConfig(
                                                                 comparator=m.MultiVectorComparator.MAX_SIM),
                                                             hnsw_config=m.HnswConfigDiff(m=0),
                                                             datatype=m.Datatype.FLOAT16)},
                   sparse_vectors_config={BM25: m.SparseVectorParams(modifier=m.Modifier.IDF)},
                   shard_number=shard_number, replication_factor=replication_factor,
                   write_consistency_factor=write_consistency_factor)
        if self.remote:  # deleting a document filters on it (the local mode has no payload indexes)
            self._call("create_payload_index", name, "doc", field_schema=m.PayloadSchemaType.KEYWORD)

    def create_side(self, name: str, shard_number: int, replication_factor: int,
                    write_consistency_factor: int) -> None:
        self._call("create_collection", name, vectors_config={}, shard_number=1,
                   replication_factor=replication_factor, write_consistency_factor=write_consistency_factor)
        if self.remote:
            self._call("create_payload_index", name, "doc", field_schema=self.models.PayloadSchemaType.KEYWORD)

    def upsert(self, name: str, points: list[Point]) -> None:
        m = self.models
        structs = [m.PointStruct(id=pid, vector={k: m.SparseVector(indices=v[0], values=v[1]) if k == BM25 else v
                                                 for k, v in vectors.items()}, payload=payload)
                   for pid, vectors, payload in points]
        self._call("upsert", name, structs, wait=True)

    def delete(self, name: str, doc: str | None = None, keep: Iterable[str] = (), ids: Iterable[str] = ()) -> None:
        """The points of `doc` but those of `keep`; or the points `ids`."""
        m = self.models
        if doc is None:
            selector = m.PointIdsList(points=list(ids))
        else:
            keep = list(keep)
            selector = m.FilterSelector(filter=m.Filter(
                must=[m.FieldCondition(key="doc", match=m.MatchValue(value=doc))],
                must_not=[m.HasIdCondition(has_id=keep)] if keep else None))
        self._call("delete", name, points_selector=selector, wait=True)

    def search(self, name: str, using: str, queries: list, limit: int, ids: list[str] | None = None) -> list[list]:
        m = self.models
        query_filter = m.Filter(must=[m.HasIdCondition(has_id=ids)]) if ids is not None else None
        requests = [m.QueryRequest(query=m.SparseVector(indices=q[0], values=q[1]) if using == BM25 else q,
                                   using=using, limit=limit, filter=query_filter) for q in queries]
        answers = self._call("query_batch_points", name, requests=requests) if requests else []
        return [[(str(p.id), p.score) for p in answer.points] for answer in answers]

    def retrieve(self, name: str, ids: list[str], payload=True, vectors=False) -> list[Point]:
        records = self._call("retrieve", name, ids, with_payload=payload, with_vectors=vectors)
        return [(str(r.id), r.vector or {}, r.payload or {}) for r in records]

    def scroll(self, name: str, doc: str | None = None, payload=True,
               ordinals: tuple[int, int] | None = None) -> list[Point]:
        """Every point (of `doc`; with `ordinals`, of its passages numbered from the first to the last)."""
        m = self.models
        must = [m.FieldCondition(key="doc", match=m.MatchValue(value=doc))] if doc else []
        if ordinals:
            must.append(m.FieldCondition(key="ordinal", range=m.Range(gte=ordinals[0], lte=ordinals[1])))
        query_filter = m.Filter(must=must) if must else None
        out, offset = [], None
        while True:
            records, offset = self._call("scroll", name, scroll_filter=query_filter, limit=1000, offset=offset,
                                         with_payload=payload, with_vectors=False)
            out += [(str(r.id), {}, r.payload or {}) for r in records]
            if offset is None:
                return out

    def count(self, name: str) -> int:
        return int(self._call("count", name, exact=True).count)

    def close(self) -> None:
        self.client.close()


class EdgeEngine:
    """Through qdrant-edge-py: Qdrant's Rust segment and query code in-process, one shard a collection."""

    def __init__(self, folder: Path) -> None:
        import qdrant_edge

        self.e = qdrant_edge
        self.folder = Path(folder).expanduser()
        self.where = f"edge:{folder}"
        self.remote = False
        self.shards: dict = {}

    def _shard(self, name: str):
        if name not in self.shards:
            try:
                self.shards[name] = self.e.EdgeShard.load(str(self.folder / name))
            except Exception as exc:  # the engine raises plain Exceptions
                raise QAError(f"cannot open the edge shard {self.folder / name} ({exc})", status=503) from None
        return self.shards[name]

    def exists(self, name: str) -> bool:
        return (self.folder / name / "edge_config.json").is_file()

    def create(self, name: str, dimension: int, shard_number: int, replication_factor: int,
               write_consistency_factor: int) -> None:
        """One edge shard: the cluster settings have no meaning in-process."""
        e = self.e
        config = e.EdgeConfig(
            vectors={PASSAGE: e.EdgeVectorParams(size=dimension, distance=e.Distance.Cosine),
                     SENTENCES: e.EdgeVectorParams(size=dimension, distance=e.Distance.Cosine,
                                                   multivector_config=e.MultiVectorConfig(e.MultiVectorComparator.MaxSim),
                                                   datatype=e.VectorStorageDatatype.Float16,
                                                   hnsw_config=e.HnswIndexConfig(m=0, ef_construct=100,
                                                                                 full_scan_threshold=10_000))},
            sparse_vectors={BM25: e.EdgeSparseVectorParams(modifier=e.Modifier.Idf)})
        self.shards[name] = e.EdgeShard.create(str(self.folder / name), config)
        self.shards[name].update(e.UpdateOperation.create_field_index("doc", e.PayloadSchemaType.Keyword))

    def create_side(self, name: str, **settings) -> None:
        e = self.e  # a shard needs some vector: records carry none of this unused sparse one
        self.shards[name] = e.EdgeShard.create(str(self.folder / name),
                                               e.EdgeConfig(sparse_vectors={"none": e.EdgeSparseVectorParams()}))
        self.shards[name].update(e.UpdateOperation.create_field_index("doc", e.PayloadSchemaType.Keyword))

    def upsert(self, name: str, points: list[Point]) -> None:
        e = self.e
        structs = [e.Point(pid, {k: e.SparseVector(list(v[0]), list(v[1])) if k == BM25 else v
                                 for k, v in vectors.items()}, payload) for pid, vectors, payload in points]
        self._shard(name).update(e.UpdateOperation.upsert_points(structs))

    def delete(self, name: str, doc: str | None = None, keep: Iterable[str] = (), ids: Iterable[str] = ()) -> None:
        e = self.e
        if doc is None:
            self._shard(name).update(e.UpdateOperation.delete_points(list(ids)))
            return
        keep = set(keep)
        self._shard(name).update(e.UpdateOperation.delete_points_by_filter(e.Filter(
            must=[e.FieldCondition("doc", match=e.MatchValue(doc))],
            must_not=[e.HasIdCondition(keep)] if keep else None)))

    def search(self, name: str, using: str, queries: list, limit: int, ids: list[str] | None = None) -> list[list]:
        e = self.e
        query_filter = e.Filter(must=[e.HasIdCondition(set(ids))]) if ids is not None else None
        requests = [e.QueryRequest(limit=limit, filter=query_filter, with_payload=False, query=e.Query.Nearest(
            e.SparseVector(list(q[0]), list(q[1])) if using == BM25 else q, using=using))
            for q in queries]
        answers = self._shard(name).query_batch(e.QueryBatchRequest(requests)) if requests else []
        return [[(str(p.id), p.score) for p in answer] for answer in answers]

    def retrieve(self, name: str, ids: list[str], payload=True, vectors=False) -> list[Point]:
        records = self._shard(name).retrieve(ids, with_payload=self._payload(payload), with_vector=vectors)
        return [(str(r.id), r.vector or {}, r.payload or {}) for r in records]

    def scroll(self, name: str, doc: str | None = None, payload=True,
               ordinals: tuple[int, int] | None = None) -> list[Point]:
        e = self.e
        must = [e.FieldCondition("doc", match=e.MatchValue(doc))] if doc else []
        if ordinals:
            must.append(e.FieldCondition("ordinal", range=e.RangeFloat(gte=ordinals[0], lte=ordinals[1])))
        query_filter = e.Filter(must=must) if must else None
        out, offset = [], None
        while True:
            records, offset = self._shard(name).scroll(e.ScrollRequest(offset=offset, limit=1000, filter=query_filter,
                                                                       with_payload=self._payload(payload),
                                                                       with_vector=False))
            out += [(str(r.id), {}, r.payload or {}) for r in records]
            if offset is None:
                return out

    def count(self, name: str) -> int:
        return int(self._shard(name).count(self.e.CountRequest(exact=True)))

    def _payload(self, payload):
        """True, False, or the payload keys wanted."""
        return self.e.PayloadSelector.Include(payload) if isinstance(payload, list) else payload

    def close(self) -> None:
        for shard in self.shards.values():
            shard.flush()
            shard.close()
        self.shards.clear()
