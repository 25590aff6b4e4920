"""Index: passages, their FAISS vectors, BM25 postings, sentences and a manifest, as plain versioned files (store/local/build.py writes them)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ...errors import QAError
from ...ingest.files import doc_name, file_sha256, find_files
from ...ingest.passages import Passage, page_of
from .ann import load_ann
from .documents import document_text, read_records
from .folder import FORMAT, MANIFEST, verify_files  # noqa: F401  (MANIFEST: re-exported)
from ..lexical import LENGTHS, BM25Scores
from .passage_table import OFFSETS, PassageTable
from .row_file import RowFile

FORMAT_VERSION = 1
# An index with a delta (store/local/delta.py) says version 2: a qa from before deltas, which would read its
# base alone (dead passages in, the delta's out), refuses it and says to rebuild instead.
DELTA_FORMAT_VERSION = 2
PASSAGES = "passages.jsonl"
DENSE = "dense.faiss"
ANN = "dense.ivf.faiss"  # from ANN_FROM passages: the approximate first pass (store/local/ann.py)
BM25 = "bm25"
SENTENCE_SPANS = "sentence_spans.npy"  # rows of (passage row, start, end), for highlights
SENTENCE_VECTORS = "sentence_vectors.npy"
TEXT_KEYS = "text_keys.npy"  # a digest of each passage's embedded text: an update finds vectors by text
SENTENCE_KEYS = "sentence_keys.npy"  # the same for each sentence
# Sentence vectors (3-4 a passage) are kept as float16: half the disk and memory, and the same figures
# as float32 on the hand-written set and msmarco-5k (Hit@1, MRR@10, nDCG@10 equal to 4 decimals).
SENTENCE_DTYPE = np.float16

Warn = Callable[[str], None]
# the manifest's keys that readers take as given, with their JSON types (file_hashes: see verify_files)
MANIFEST_KEYS = {"model": str, "sources": list, "files": list, "passage_count": int}
# progress(total, kind) -> step(n): told how many texts of a kind ("passages", "sentences") are to come
ProgressFactory = Callable[[int, str], Callable[[int], None]]


class _FaissView(np.ndarray):
    """An array over a FAISS index's memory that keeps the index alive (`owner`)."""


def _flat_vectors(dense) -> np.ndarray:
    """A flat FAISS index's vectors as a read-only (n × d) view of its own memory."""
    import faiss

    view = faiss.rev_swig_ptr(dense.get_xb(), dense.ntotal * dense.d).reshape(dense.ntotal, dense.d)
    view = view.view(_FaissView)
    view.owner = dense  # the FAISS index lives as long as any view of its memory
    view.flags.writeable = False  # FAISS's memory: never written through
    return view


@dataclass
class Index:
    """A loaded index: the passages in the order of the FAISS rows, the FAISS index, the manifest."""

    path: Path
    manifest: dict
    passages: Sequence[Passage]  # a PassageTable (read lazily) once loaded
    dense: object  # faiss.Index
    bm25: object = None  # lexical.BM25Scores
    sentence_spans: np.ndarray | None = None
    sentence_vectors: np.ndarray | None = None
    extras: dict = field(default_factory=dict)
    documents: dict = field(default_factory=dict)  # doc → kind, pages, extracted text file (index_documents)
    ann: object = None  # ann.Ann: the approximate first pass of an index of ANN_FROM passages or more
    delta: object = None  # delta.Delta: documents added or changed since this base was written (store/local/delta.py)

    @property
    def model(self) -> str:
        return self.manifest["model"]

    def vectors(self) -> np.ndarray:
        """The passage vectors as one (passages × dimension) float32 matrix: a view of FAISS's own
        storage for a flat index (no second copy in memory), else reconstructed once."""
        if "_vectors" not in self.extras:
            import faiss

            dense = self.dense
            if isinstance(dense, faiss.IndexFlat) and dense.ntotal:
                self.extras["_vectors"] = _flat_vectors(dense)
            else:
                self.extras["_vectors"] = dense.reconstruct_n(0, dense.ntotal)
        return self.extras["_vectors"]

    def row_files(self) -> tuple[RowFile | None, RowFile]:
        """The passage vectors in dense.faiss and the sentence vectors, read a run of rows at a time
        (store/local/row_file.py). A flat FAISS file ends with its vectors; were that ever not so (the first
        row differs), None stands for the passage vectors: take them from `vectors()` instead."""
        if "_row_files" not in self.extras:
            vectors = self.vectors()
            path = self.path / DENSE
            dense = RowFile(path, os.path.getsize(path) - vectors.nbytes, vectors.shape, np.float32)
            if len(vectors) and not np.array_equal(dense.gather(np.zeros(1, dtype=np.int64))[0], vectors[0]):
                dense = None
            self.extras["_row_files"] = (dense, RowFile.of_npy(self.path / SENTENCE_VECTORS))
        return self.extras["_row_files"]

    def page_of(self, doc: str, offset: int) -> int | None:
        """The 1-based page of `doc` holding `offset`, or None for an unpaged document."""
        record = self.documents.get(doc)
        return page_of(record["pages"], offset) if record else None

    def text(self, doc: str) -> str:
        """The text `doc`'s passage offsets index (`qa text DOC`)."""
        return document_text(self.path, self.manifest, self.documents, doc)

    def row_of(self, passage_id: str) -> int | None:
        """The row of the passage with this id, or None."""
        return self.passages.row_of(passage_id)


def _intact(index_dir: Path) -> bool:
    """Whether a qa index is at `index_dir` with every file as its manifest records."""
    try:
        if not index_exists(index_dir):
            return False
        verify_files(index_dir, read_manifest(index_dir), lambda why: _corrupt(index_dir, why))
        return True
    except QAError:
        return False


def load_index(index_dir: Path) -> Index:
    """Load an index written by `build_index`. Every file is memory-mapped (passages, vectors, BM25,
    sentences, the ANN lists) and read as a search needs it: loading a million passages reads
    almost nothing, and the kernel's page cache, not the process, holds what searches touch.
    An index with a delta (store/local/delta.py) is its base, with the delta loaded beside it."""
    from .delta import load_delta

    index_dir = Path(index_dir)
    if not index_exists(index_dir):
        raise QAError(f"no index at {index_dir}: run `qa index` to build one", status=503)
    manifest = read_manifest(index_dir)
    verify_files(index_dir, manifest, lambda why: _corrupt(index_dir, why))
    delta = manifest.get("delta")
    try:
        for kept in (OFFSETS, f"{BM25}/{LENGTHS}"):
            if not (index_dir / kept).is_file():
                raise QAError(f"index at {index_dir} was built by an older qa (no {kept}): run `qa index` to "
                              f"update it (its vectors are reused)", status=503)
        index = _load_segment(index_dir, manifest, delta["base_count"] if delta else manifest.get("passage_count"))
        index.documents = read_records(index_dir)
        record = manifest.get("ann")
        index.ann = load_ann(index_dir / record["file"], record) if record else None
        if delta:
            index.delta = load_delta(index_dir, manifest, index, _load_segment)
    except (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, RuntimeError) as exc:
        raise _corrupt(index_dir, exc) from exc
    return index


def _load_segment(folder: Path, manifest: dict, count) -> Index:
    """The passages, vectors, BM25 postings and sentences in `folder` (an index's, or its delta's),
    which must hold `count` passages."""
    import faiss

    passages = PassageTable(folder, PASSAGES)
    dense = faiss.read_index(str(folder / DENSE), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
    bm25 = BM25Scores(folder / BM25, mmap=True)
    spans = np.load(folder / SENTENCE_SPANS, mmap_mode="r", allow_pickle=False)
    sentence_vectors = np.load(folder / SENTENCE_VECTORS, mmap_mode="r", allow_pickle=False)
    if not (len(passages) == count == dense.ntotal == bm25.num_docs):
        raise ValueError("passage count does not match the manifest")
    if spans.ndim != 2 or spans.shape[1] != 3 or len(spans) != len(sentence_vectors) or \
            sentence_vectors.dtype not in (np.float16, np.float32):
        raise ValueError("sentence arrays do not match")
    if len(spans) and not (0 <= spans[0, 0] and spans[-1, 0] < len(passages)
                           and bool(np.all(np.diff(spans[:, 0]) >= 0))):
        raise ValueError("sentence spans name passages the index does not have")
    return Index(folder, manifest, passages, dense, bm25, spans, sentence_vectors)


def index_exists(index_dir: Path) -> bool:
    """True when an index is there (a corrupt one included: it has a manifest), False for none."""
    try:
        return (Path(index_dir) / MANIFEST).is_file()
    except OSError:  # e.g. a path under a file
        return False


def read_manifest(index_dir: Path) -> dict:
    try:
        manifest = json.loads((Path(index_dir) / MANIFEST).read_text(encoding="utf-8"))
    except OSError as exc:
        raise _corrupt(index_dir, f"{MANIFEST} cannot be read: {exc.strerror}") from None
    except ValueError as exc:  # the file named: a parse error alone does not say which file it is in
        raise _corrupt(index_dir, f"{MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _corrupt(index_dir, "not a qa index manifest")
    for key, kind in MANIFEST_KEYS.items():  # read without a check later: a key renamed was a KeyError
        if not isinstance(manifest.get(key), kind):
            raise _corrupt(index_dir, f"{MANIFEST} has no valid {key!r}")
    if manifest.get("format_version") not in (FORMAT_VERSION, DELTA_FORMAT_VERSION):
        raise QAError(
            f"index at {index_dir} has format version {manifest.get('format_version')}, "
            f"this qa reads versions {FORMAT_VERSION} and {DELTA_FORMAT_VERSION}: run `qa index` to rebuild it",
            status=503)
    if ("delta" in manifest) != (manifest["format_version"] == DELTA_FORMAT_VERSION):
        raise _corrupt(index_dir, "a delta, or its format version, is missing")
    return manifest


def kept_onnx(index_dir: Path, model: str | None = None) -> tuple[Path, dict] | None:
    """The ONNX file the index at `index_dir` keeps and its manifest record, when the index is readable
    and of `model` (resolved as `resolve_model` does); else None (loading the index reports why)."""
    from ...embed.models import resolve_model
    from ...embed.onnx_export import ONNX_FILE

    try:
        manifest = read_manifest(Path(index_dir)) if index_exists(index_dir) else None
    except QAError:
        return None
    record = manifest.get("onnx") if manifest else None
    if not isinstance(record, dict) or manifest.get("model") != resolve_model(model).name:
        return None
    return Path(index_dir) / record.get("file", ONNX_FILE), record


def stale_reason(manifest: dict, model: str) -> str | None:
    """Why an index no longer matches its corpus or the requested model, or None when it is current."""
    if manifest.get("model") != model:
        return f"it was built with model {manifest.get('model')!r}, not {model!r}"
    if "file_hashes" not in manifest:
        return "it was built by an older qa, which recorded no hashes of the index's files"
    for kept in (OFFSETS, TEXT_KEYS, f"{BM25}/{LENGTHS}"):
        if kept not in manifest["file_hashes"]:
            return f"it was built by an older qa, which kept no {kept}"
    try:
        if manifest.get("beir"):  # built by `qa eval --beir` from one corpus.jsonl
            current = {record["doc"]: Path(source) for record, source in zip(manifest["files"], manifest["sources"])}
        else:
            current = {doc_name(root, f): f for root, f in find_files([Path(s) for s in manifest["sources"]])}
    except QAError as exc:
        return exc.message
    recorded = {r["doc"]: r for r in manifest.get("files", [])}
    added = sorted(set(current) - set(recorded))
    removed = sorted(set(recorded) - set(current))
    if added or removed:
        parts = [f"added {', '.join(added)}" if added else "", f"removed {', '.join(removed)}" if removed else ""]
        return "corpus files " + "; ".join(p for p in parts if p)
    for name, record in recorded.items():
        try:
            if record.get("sha256") is None:  # unreadable when the index was built
                file_sha256(current[name])
                return f"{name} can now be read"
            stat = current[name].stat()
            if stat.st_size == record["size"] and stat.st_mtime_ns == record["mtime_ns"]:
                continue  # unchanged since it was hashed
            if file_sha256(current[name]) != record["sha256"]:
                return f"{name} changed"
        except OSError:
            if record.get("sha256") is not None:
                return f"{name} can no longer be read"
    return None


def _corrupt(index_dir: Path, why) -> QAError:
    return QAError(f"index at {index_dir} is corrupt or incomplete ({why}): run `qa index` to rebuild it", status=503)
