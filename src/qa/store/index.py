"""Index: passages, their FAISS vectors and a manifest, written atomically as plain versioned files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..ingest.files import Document, doc_name, file_sha256, find_files, read_documents, shown_path
from ..errors import QAError
from .folder import (FORMAT, MANIFEST, build_lock, check_index_target, hash_files, stamp_verified,
                           staging_dir, swap_into_place, verify_files)
from .lexical import BM25Scores, write_bm25
from .documents import DOCUMENTS, TEXTS, document_text, extracted_documents, read_records, write_documents
from ..ingest.passages import Passage, page_of, sentence_spans, split_documents
from .passage_table import IDS, OFFSETS, PassageTable, write_passages
from .vector_reuse import KnownVectors, PartialVectors, sentence_texts

FORMAT_VERSION = 1
PASSAGES = "passages.jsonl"
DENSE = "dense.faiss"
BM25 = "bm25"
SENTENCE_SPANS = "sentence_spans.npy"  # rows of (passage row, start, end), for highlights
SENTENCE_VECTORS = "sentence_vectors.npy"
# Sentence vectors (3-4 a passage) are kept as float16: half the disk and memory, and the same figures
# as float32 on the hand-written set and msmarco-5k (Hit@1, MRR@10, nDCG@10 equal to 4 decimals).
SENTENCE_DTYPE = np.float16

Warn = Callable[[str], None]
ProgressFactory = Callable[[int], Callable[[int], None]]


class _FaissView(np.ndarray):
    """An array over a FAISS index's memory that keeps the index alive (`owner`)."""


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
                view = faiss.rev_swig_ptr(dense.get_xb(), dense.ntotal * dense.d).reshape(dense.ntotal, dense.d)
                view = view.view(_FaissView)
                view.owner = dense  # the FAISS index lives as long as any view of its memory
                view.flags.writeable = False  # FAISS's memory: never written through
                self.extras["_vectors"] = view
            else:
                self.extras["_vectors"] = dense.reconstruct_n(0, dense.ntotal)
        return self.extras["_vectors"]

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


def build_index(
    sources: list[Path],
    index_dir: Path,
    embedder,
    warn: Warn | None = None,
    progress: ProgressFactory | None = None,
    reuse: bool = True,
) -> Index:
    """Read, split and embed the corpus files under `sources` into `index_dir`, atomically.

    With `reuse`, the texts the index already there embedded keep their vectors (only new text is
    embedded); without it everything is embedded again (`qa index --full`).
    """
    check_index_target(index_dir, sources)  # before the corpus is read: a wrong folder is said at once
    # unchanged PDF, HTML and Word files are taken from the index there, not parsed again
    known = extracted_documents(index_dir) if reuse and _intact(index_dir) else {}
    documents = read_documents([Path(s) for s in sources], warn=warn, known=known)  # errors name paths as given
    sources = [Path(s).resolve() for s in sources]
    passages = split_documents(documents)
    if not passages:
        raise QAError("the corpus has no passages to index (every file is empty or furniture)")
    corpus = {"sources": [str(s) for s in sources], "files": _file_records(sources, documents)}
    return write_index(passages, index_dir, embedder, corpus, progress=progress, warn=warn, reuse=reuse,
                       documents=documents)


def write_index(
    passages: list[Passage],
    index_dir: Path,
    embedder,
    corpus: dict,
    progress: ProgressFactory | None = None,
    warn: Warn | None = None,
    reuse: bool = False,
    documents: list[Document] = (),
) -> Index:
    """Embed ready-made passages and write them to `index_dir`, replacing any index there atomically
    (with `reuse`, taking the vectors of texts it already holds from the index there). `documents`
    are recorded (kind, pages) and their extracted texts kept.

    `corpus` goes into the manifest as is (`sources` and `files` let `stale_reason` check it).
    """
    from ..embed.onnx import onnx_for_index

    if not passages:
        raise QAError("there are no passages to index")
    spans = np.array(
        [(row, a, b) for row, p in enumerate(passages) for a, b in sentence_spans(p)], dtype=np.int64
    ).reshape(-1, 3)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": embedder.model,
        **corpus,
        "passage_count": len(passages),
        "files_written": {"passages": PASSAGES, "passage_offsets": OFFSETS, "passage_ids": IDS,
                          "dense": DENSE, "bm25": BM25,
                          "sentence_spans": SENTENCE_SPANS, "sentence_vectors": SENTENCE_VECTORS,
                          "documents": DOCUMENTS, "texts": TEXTS},
    }
    index_dir = Path(index_dir)
    check_index_target(index_dir)
    try:
        with build_lock(index_dir, warn), staging_dir(index_dir) as staging:
            step = progress(len(passages) + len(spans)) if progress else None
            encoder = getattr(embedder, "passage_encoder", type(embedder).__name__)
            known, partial = _known_vectors(index_dir, embedder, encoder, reuse, warn)
            dense, sentence_vectors, counts = _embed(passages, spans, embedder, staging / SENTENCE_VECTORS, known,
                                                     partial, step)
            manifest["texts"] = counts  # how many passage and sentence texts were embedded, and reused
            manifest["dimension"] = int(dense.d)
            manifest["built_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            onnx = onnx_for_index(embedder, warn=warn)  # the model as ONNX, kept here so asking needs no torch
            if onnx:
                manifest["onnx"] = onnx[1]
            # what embedded the passages: "openvino bf16" vectors are within 1e-4 cosine of fp32 ones
            manifest["passage_encoder"] = encoder
            write_documents(staging, list(documents))
            _write_files(staging, passages, dense, spans, onnx, manifest)
            swap_into_place(staging, index_dir)
            partial.remove()  # the index holds every vector now
    except OSError as exc:  # a full disk, a read-only folder, /proc
        raise QAError(f"cannot write the index at {shown_path(index_dir)} ({exc.strerror or exc})") from None
    return load_index(index_dir)  # the files as written (verified from the stamp the build wrote: no hashing)


def _known_vectors(index_dir: Path, embedder, encoder: str, reuse: bool,
                   warn: Warn | None) -> tuple[KnownVectors, PartialVectors]:
    """The vectors a build need not compute (with `reuse`: the index there, and what an unfinished
    build kept), and where this build keeps the ones it computes."""
    known, partial = KnownVectors(), PartialVectors(index_dir, {"model": embedder.model, "encoder": encoder})
    if not reuse:
        partial.remove()
        return known, partial
    previous = _reusable(index_dir, embedder, encoder)
    if previous is not None:
        known.add_index(previous)
    resumed = partial.load_into(known)
    if resumed and warn:
        warn(f"resuming an unfinished build: {resumed:,} texts were embedded already")
    return known, partial


def _intact(index_dir: Path) -> bool:
    """Whether a qa index is at `index_dir` with every file as its manifest records."""
    try:
        if not index_exists(index_dir):
            return False
        verify_files(index_dir, read_manifest(index_dir), lambda why: _corrupt(index_dir, why))
        return True
    except QAError:
        return False


def _reusable(index_dir: Path, embedder, encoder: str) -> Index | None:
    """The index at `index_dir` when its vectors can stand for `embedder`'s: same model, same encoder,
    and intact (its files verified); else None."""
    try:
        manifest = read_manifest(index_dir) if index_exists(index_dir) else None
        same = manifest is not None and manifest.get("model") == embedder.model and \
            manifest.get("passage_encoder") == encoder
        return load_index(index_dir, mmap=True) if same else None
    except QAError:
        return None


EMBED_CHUNK = 2048  # texts tokenized and embedded at a time: memory is bounded by this, not by the corpus


def _embed(passages: list[Passage], spans: np.ndarray, embedder, sentence_file: Path, known: KnownVectors,
           partial: PartialVectors, step=None):
    """The passages' FAISS index, their sentences' vectors written to `sentence_file` (memory-mapped), and
    how many texts were embedded and how many reused.

    Texts go to the embedder EMBED_CHUNK at a time, so a 50 MB file is never tokenized whole; the
    sentence vectors (3-4 per passage) go straight to disk instead of being held. A text `known`
    has a vector for is not embedded again; each chunk embedded is kept in `partial` at once.
    """
    import faiss

    # an embedder may have a faster way for many texts (OnnxEmbedder: OpenVINO); questions never use it
    encode = getattr(embedder, "encode_passages", embedder.encode)
    counts = {"embedded": 0, "reused": 0}

    def vectors_of(texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), embedder.dimension), dtype=np.float32)
        missing = known.fill(texts, out)
        if missing:
            fresh = np.asarray(encode([texts[i] for i in missing], progress=step), dtype=np.float32)
            partial.save([texts[i] for i in missing], fresh)
            out[missing] = fresh
        if step and len(texts) > len(missing):
            step(len(texts) - len(missing))
        counts["embedded"] += len(missing)
        counts["reused"] += len(texts) - len(missing)
        return out

    dense = faiss.IndexFlatIP(embedder.dimension)
    for start in range(0, len(passages), EMBED_CHUNK):
        dense.add(vectors_of([p.embedding_text() for p in passages[start : start + EMBED_CHUNK]]))
    out = np.lib.format.open_memmap(sentence_file, mode="w+", dtype=SENTENCE_DTYPE, shape=(len(spans), dense.d))
    for start in range(0, len(spans), EMBED_CHUNK):
        chunk = spans[start : start + EMBED_CHUNK]
        out[start : start + len(chunk)] = vectors_of(sentence_texts(passages, chunk))
    out.flush()
    return dense, out, counts


def _write_files(staging: Path, passages: list[Passage], dense, spans: np.ndarray, onnx: tuple[Path, dict] | None,
                 manifest: dict) -> None:
    """The other index files into `staging` (the sentence vectors are there already), the manifest (with
    every file's hash) last."""
    import faiss

    from ..embed.onnx import place_file

    write_passages(passages, staging, PASSAGES)
    faiss.write_index(dense, str(staging / DENSE))
    write_bm25([p.lexical_text() for p in passages], staging / BM25)
    np.save(staging / SENTENCE_SPANS, spans, allow_pickle=False)
    if onnx:
        place_file(onnx[0], staging / onnx[1]["file"])
    manifest["file_hashes"] = hash_files(staging)  # checked at every load: damage is never used
    if onnx and manifest["file_hashes"][onnx[1]["file"]]["sha256"] != onnx[1]["sha256"]:
        # the model the passages were embedded with is not the file about to be kept (damaged since)
        raise QAError(f"the ONNX model {shown_path(onnx[0])} is damaged (its SHA-256 is not the one recorded "
                      f"for it): delete it and run `qa index` again to export it anew")
    stamp_verified(staging, manifest)
    # The manifest is written last: a folder without one is never taken for an index.
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def load_index(index_dir: Path, mmap: bool = False) -> Index:
    """Load an index written by `build_index`: passages, BM25 and sentence arrays are memory-mapped and
    read as a search needs them; `mmap` maps the FAISS file too instead of reading it."""
    import faiss

    index_dir = Path(index_dir)
    if not index_exists(index_dir):
        raise QAError(f"no index at {index_dir}: run `qa index` to build one", status=503)
    manifest = read_manifest(index_dir)
    verify_files(index_dir, manifest, lambda why: _corrupt(index_dir, why))
    try:
        if not (index_dir / OFFSETS).is_file():
            raise QAError(f"index at {index_dir} was built by an older qa (no {OFFSETS}): run `qa index` to "
                          f"update it (its vectors are reused)", status=503)
        passages = PassageTable(index_dir, PASSAGES)
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        dense = faiss.read_index(str(index_dir / DENSE), flags)
        bm25 = BM25Scores(index_dir / BM25, mmap=True)
        spans = np.load(index_dir / SENTENCE_SPANS, mmap_mode="r", allow_pickle=False)
        sentence_vectors = np.load(index_dir / SENTENCE_VECTORS, mmap_mode="r", allow_pickle=False)
        documents = read_records(index_dir)
    except (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, RuntimeError) as exc:
        raise _corrupt(index_dir, exc) from exc
    if not (len(passages) == manifest.get("passage_count") == dense.ntotal == bm25.num_docs):
        raise _corrupt(index_dir, "passage count does not match the manifest")
    if spans.ndim != 2 or spans.shape[1] != 3 or len(spans) != len(sentence_vectors) or \
            sentence_vectors.dtype not in (np.float16, np.float32):
        raise _corrupt(index_dir, "sentence arrays do not match")
    if len(spans) and not (0 <= spans[0, 0] and spans[-1, 0] < len(passages)
                           and bool(np.all(np.diff(spans[:, 0]) >= 0))):
        raise _corrupt(index_dir, "sentence spans name passages the index does not have")
    return Index(index_dir, manifest, passages, dense, bm25, spans, sentence_vectors, documents=documents)


def index_exists(index_dir: Path) -> bool:
    """True when an index is there (a corrupt one included: it has a manifest), False for none."""
    try:
        return (Path(index_dir) / MANIFEST).is_file()
    except OSError:  # e.g. a path under a file
        return False


def read_manifest(index_dir: Path) -> dict:
    try:
        manifest = json.loads((Path(index_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _corrupt(index_dir, exc) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _corrupt(index_dir, "not a qa index manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise QAError(
            f"index at {index_dir} has format version {manifest.get('format_version')}, "
            f"this qa reads version {FORMAT_VERSION}: run `qa index` to rebuild it", status=503
        )
    return manifest


def kept_onnx(index_dir: Path, model: str | None = None) -> tuple[Path, dict] | None:
    """The ONNX file the index at `index_dir` keeps and its manifest record, when the index is readable
    and of `model` (resolved as `resolve_model` does); else None (loading the index reports why)."""
    from ..embed.models import resolve_model
    from ..embed.onnx import ONNX_FILE

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
    if OFFSETS not in manifest["file_hashes"]:
        return f"it was built by an older qa, which kept no {OFFSETS}"
    try:
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


def _file_records(sources: list[Path], documents: list[Document]) -> list[dict]:
    """Size, mtime and hash of every corpus file, skipped ones (unreadable, not UTF-8) included, so
    edits are seen; a file that cannot be read has no hash."""
    hashes = {d.path: d.sha256 for d in documents}
    records = []
    for root, file in find_files(sources):
        name = doc_name(root, file)
        try:
            stat = file.stat()
            sha256 = hashes.get(name) or file_sha256(file)
        except OSError:
            stat, sha256 = None, None
        record = {"doc": name, "sha256": sha256, "size": stat.st_size if stat else None,
                  "mtime_ns": stat.st_mtime_ns if stat else None}
        if name not in hashes:
            record["skipped"] = True
        records.append(record)
    return records


def _corrupt(index_dir: Path, why) -> QAError:
    return QAError(f"index at {index_dir} is corrupt or incomplete ({why}): run `qa index` to rebuild it", status=503)
