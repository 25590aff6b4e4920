"""Building an index: read, split and embed the corpus, keeping the rows of unchanged documents from the index there.

A build lists the corpus and compares each file with the manifest (size and mtime, else its hash).
Over an index of the same model, encoder, readers and analysis, an unchanged document's passages,
vectors, sentences and BM25 postings are copied as they are (`Kept`), and only added or changed
files are read, split and embedded (`Fresh`): an update costs copying arrays, not re-reading and
re-analyzing the corpus. The rows come out in the order a full build gives, so the files are those
of a rebuild (within float tolerance for vectors; an ANN index keeps the lists it was trained with).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import QAError
from ..ingest import readers_digest
from ..ingest.files import Document, doc_name, file_sha256, find_files, read_document, shown_path
from ..ingest.passages import Passage, sentence_spans, split_document
from .ann import ANN_FROM, build_ann
from .build_rows import Fresh, Kept, Vectors, run_size, write_passages, write_sentences
from .documents import DOCUMENTS, TEXTS, extracted_documents, write_documents
from .folder import FORMAT, build_lock, check_index_target, hash_files, stamp_verified, staging_dir, swap_into_place
from .index import (ANN, BM25, DENSE, FORMAT_VERSION, MANIFEST, PASSAGES, SENTENCE_KEYS, SENTENCE_SPANS,
                    SENTENCE_VECTORS, TEXT_KEYS, Index, ProgressFactory, Warn, _flat_vectors, _intact, index_exists,
                    load_index, read_manifest)
from .lexical import write_bm25
from .passage_table import IDS, OFFSETS
from .vector_reuse import KnownVectors, PartialVectors, sentence_texts, text_keys


def build_index(sources: list[Path], index_dir: Path, embedder, warn: Warn | None = None,
                progress: ProgressFactory | None = None, reuse: bool = True) -> Index:
    """Read, split and embed the corpus files under `sources` into `index_dir`, atomically.

    With `reuse`, what the index there holds is kept: unchanged documents are not read again, and
    texts it embedded keep their vectors; without it everything is read and embedded again
    (`qa index --full`). An index already current is returned as it is.
    """
    check_index_target(index_dir, sources)  # before the corpus is read: a wrong folder is said at once
    # the lock is held from the plan to the swap: a second build plans from the index the first left
    with build_lock(index_dir, warn):
        return _update(sources, index_dir, embedder, warn, progress, reuse)


def _update(sources: list[Path], index_dir: Path, embedder, warn: Warn | None, progress: ProgressFactory | None,
            reuse: bool) -> Index:
    """`build_index` under the build lock."""
    paths = [Path(s) for s in sources]
    resolved = [p.resolve() for p in paths]
    intact = reuse and _intact(index_dir)
    old = _spliceable(index_dir, embedder, resolved) if intact else None
    rows = _old_rows(old) if old is not None else {}
    # unchanged PDF, HTML and Word files are taken from the index there, not parsed again
    known = extracted_documents(index_dir) if intact else {}
    pieces, documents, hashes, counts = [], [], {}, {}
    seen: set[str] = set()
    for root, file in find_files(paths, warn=warn):  # errors name paths as given
        name = doc_name(root, file)
        if name in seen:
            continue
        kept = rows.get(name)
        if kept is not None and _unchanged(file, kept[0]):
            seen.add(name)
            hashes[name], counts[name] = kept[0]["sha256"], kept[2] - kept[1]
            documents.append(old.documents[name])
            if pieces and isinstance(pieces[-1], Kept) and pieces[-1].end == kept[1]:
                pieces[-1] = Kept(pieces[-1].start, kept[2])  # one run of rows: copied in one piece
            else:
                pieces.append(Kept(kept[1], kept[2]))
            continue
        document = read_document(file, name, warn or (lambda message: None), known)
        if document is not None:
            seen.add(name)
            passages = split_document(document)
            hashes[name], counts[name] = document.sha256, len(passages)
            documents.append(document)
            pieces.append(Fresh(passages))
    if not documents:
        raise QAError("no readable documents to index (every file was skipped)")
    files = _file_records(resolved, hashes, counts)
    if old is not None and files == old.manifest["files"] and all(isinstance(p, Kept) for p in pieces):
        return old  # nothing changed
    corpus = {"sources": [str(s) for s in resolved], "files": files}
    return _write(pieces, documents, index_dir, embedder, corpus, old, progress, warn, reuse)


def write_index(passages: list[Passage], index_dir: Path, embedder, corpus: dict,
                progress: ProgressFactory | None = None, warn: Warn | None = None, reuse: bool = False,
                documents: list[Document] = ()) -> Index:
    """Embed ready-made passages and write them to `index_dir`, replacing any index there atomically
    (with `reuse`, taking the vectors of texts it already holds from the index there). `documents`
    are recorded (kind, pages) and their extracted texts kept.

    `corpus` goes into the manifest as is (`sources` and `files` let `stale_reason` check it).
    """
    check_index_target(index_dir)
    with build_lock(index_dir, warn):
        return _write([Fresh(list(passages))], list(documents), index_dir, embedder, corpus, None, progress, warn,
                      reuse)


def _write(pieces: list, documents: list, index_dir: Path, embedder, corpus: dict, old: Index | None,
           progress: ProgressFactory | None, warn: Warn | None, reuse: bool) -> Index:
    """The index of `pieces` (in row order) written to a staging folder and swapped into place (the
    caller holds the build lock)."""
    import faiss

    from ..embed.onnx import onnx_for_index
    from ..embed.onnx_export import place_file

    starts = np.cumsum([0] + [run_size(p) for p in pieces])
    if starts[-1] == 0:
        raise QAError("the corpus has no passages to index (every file is empty or furniture)")
    spans, old_to_new = _spans(pieces, starts, old)
    encoder = _encoder(embedder)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": embedder.model, **corpus,
                "passage_count": int(starts[-1]), "ingest": readers_digest(),
                "files_written": {"passages": PASSAGES, "passage_offsets": OFFSETS, "passage_ids": IDS,
                                  "dense": DENSE, "bm25": BM25, "text_keys": TEXT_KEYS,
                                  "sentence_spans": SENTENCE_SPANS, "sentence_vectors": SENTENCE_VECTORS,
                                  "sentence_keys": SENTENCE_KEYS, "documents": DOCUMENTS, "texts": TEXTS}}
    index_dir = Path(index_dir)
    check_index_target(index_dir)
    try:
        with staging_dir(index_dir) as staging:
            fresh = [p for p in pieces if isinstance(p, Fresh)]
            fresh_texts = sum(len(p.passages) + len(s) for p, s in zip(pieces, spans) if isinstance(p, Fresh))
            step = progress(fresh_texts) if progress and fresh_texts else None
            known, partial = _known_vectors(index_dir, embedder, encoder, reuse, warn)
            vectors = Vectors(embedder, known, partial, step)
            dense = write_passages(pieces, old, staging, vectors)
            write_sentences(pieces, starts, spans, old, staging, vectors, dense.d)
            write_bm25(staging / BM25, int(starts[-1]),
                       [r for p, s in zip(pieces, starts) if isinstance(p, Fresh) for r in range(s, s + len(p.passages))],
                       [q.lexical_text() for p in fresh for q in p.passages],
                       old.bm25 if old is not None and len(fresh) < len(pieces) else None, old_to_new)
            kept = int(starts[-1]) + sum(len(s) for s in spans) - fresh_texts
            manifest["texts"] = {"embedded": vectors.embedded, "reused": vectors.reused + kept,
                                 "embedding_seconds": round(vectors.seconds, 3)}
            manifest["dimension"] = int(dense.d)
            manifest["built_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            onnx = onnx_for_index(embedder, warn=warn)  # the model as ONNX, kept here so asking needs no torch
            if onnx:
                manifest["onnx"] = onnx[1]
            # what embedded the passages: "openvino bf16" vectors are within 1e-4 cosine of fp32 ones
            manifest["passage_encoder"] = encoder
            write_documents(staging, documents, old.path if old is not None else None)
            if starts[-1] >= ANN_FROM:
                previous = (old.path / ANN, old.manifest["ann"]) if old is not None and old.manifest.get("ann") else None
                manifest["ann"] = {"file": ANN, **build_ann(_flat_vectors(dense), staging / ANN, previous,
                                                            old_to_new)}
            faiss.write_index(dense, str(staging / DENSE))
            np.save(staging / SENTENCE_SPANS, np.concatenate(spans), allow_pickle=False)
            if onnx:
                place_file(onnx[0], staging / onnx[1]["file"])
            _seal(staging, manifest, onnx)
            swap_into_place(staging, index_dir)
            partial.remove()  # the index holds every vector now
    except OSError as exc:  # a full disk, a read-only folder, /proc
        raise QAError(f"cannot write the index at {shown_path(index_dir)} ({exc.strerror or exc})") from None
    return load_index(index_dir)  # the files as written (verified from the stamp the build wrote: no hashing)


def _spans(pieces: list, starts: np.ndarray, old: Index | None) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Each piece's sentence spans (new row, start, end), and each old row's new row (-1: gone)."""
    out, old_to_new = [], None
    if old is not None:
        old_to_new = np.full(len(old.passages), -1, dtype=np.int64)
        span_rows = np.asarray(old.sentence_spans[:, 0])
    for piece, start in zip(pieces, starts):
        if isinstance(piece, Kept):
            lo, hi = np.searchsorted(span_rows, [piece.start, piece.end])
            part = np.array(old.sentence_spans[lo:hi], dtype=np.int64)
            part[:, 0] += start - piece.start
            old_to_new[piece.start : piece.end] = np.arange(start, start + piece.end - piece.start)
        else:
            part = np.array([(start + row, a, b) for row, p in enumerate(piece.passages) for a, b in sentence_spans(p)],
                            dtype=np.int64).reshape(-1, 3)
        out.append(part)
    return out, old_to_new


def _seal(staging: Path, manifest: dict, onnx: tuple[Path, dict] | None) -> None:
    """Every file's hash into the manifest, the verified stamp, and the manifest itself, last: a
    folder without one is never taken for an index."""
    manifest["file_hashes"] = hash_files(staging)  # checked at every load: damage is never used
    if onnx and file_sha256(staging / onnx[1]["file"]) != onnx[1]["sha256"]:
        # the model the passages were embedded with is not the file about to be kept (damaged since)
        raise QAError(f"the ONNX model {shown_path(onnx[0])} is damaged (its SHA-256 is not the one recorded "
                      f"for it): delete it and run `qa index` again to export it anew")
    stamp_verified(staging, manifest)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _encoder(embedder) -> str:
    return getattr(embedder, "passage_encoder", type(embedder).__name__)


def _known_vectors(index_dir: Path, embedder, encoder: str, reuse: bool,
                   warn: Warn | None) -> tuple[KnownVectors, PartialVectors]:
    """The vectors a build need not compute (with `reuse`: the index there, and what an unfinished
    build kept), and where this build keeps the ones it computes."""
    known, partial = KnownVectors(), PartialVectors(index_dir, {"model": embedder.model, "encoder": encoder})
    if not reuse:
        partial.remove()
        return known, partial
    _add_index_vectors(known, index_dir, embedder.model, encoder)
    resumed = partial.load_into(known)
    if resumed and warn:
        warn(f"resuming an unfinished build: {resumed:,} texts were embedded already")
    return known, partial


def _add_index_vectors(known: KnownVectors, index_dir: Path, model: str, encoder: str) -> None:
    """The passage and sentence vectors of the index at `index_dir` when they can stand for this
    model's and encoder's and its files are intact; read from its files directly, so that an index
    of an older layout, which `load_index` refuses, still lends its vectors to the rebuild."""
    import faiss

    try:
        manifest = read_manifest(index_dir) if index_exists(index_dir) else None
        if manifest is None or manifest.get("model") != model or manifest.get("passage_encoder") != encoder \
                or not _intact(index_dir):
            return
        dense = faiss.read_index(str(index_dir / DENSE), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        spans = np.load(index_dir / SENTENCE_SPANS, allow_pickle=False)
        sentence_vectors = np.load(index_dir / SENTENCE_VECTORS, mmap_mode="r", allow_pickle=False)
        if (index_dir / TEXT_KEYS).is_file() and (index_dir / SENTENCE_KEYS).is_file():
            passage_keys = np.load(index_dir / TEXT_KEYS, allow_pickle=False)
            sentence_keys = np.load(index_dir / SENTENCE_KEYS, allow_pickle=False)
        else:  # an older layout: the keys of its texts, from its passages
            with open(index_dir / PASSAGES, encoding="utf-8") as lines:
                passages = [Passage(**json.loads(line)) for line in lines if line.strip()]
            passage_keys = text_keys(p.embedding_text() for p in passages)
            sentence_keys = text_keys(sentence_texts(passages, spans))
    except (QAError, OSError, ValueError, TypeError, KeyError, RuntimeError):
        return  # nothing reused: the build embeds everything
    if len(passage_keys) == dense.ntotal and len(sentence_keys) == len(sentence_vectors):
        known.add(passage_keys, _flat_vectors(dense))
        known.add(sentence_keys, sentence_vectors)


def _spliceable(index_dir: Path, embedder, sources: list[Path]) -> Index | None:
    """The index at `index_dir` when an update may copy its unchanged documents' rows: the same model,
    encoder, sources, readers and analysis, and a record of each file's passages; else None."""
    try:
        manifest = read_manifest(index_dir) if index_exists(index_dir) else None
        if manifest is None or manifest.get("model") != embedder.model or manifest.get("beir") \
                or manifest.get("passage_encoder") != _encoder(embedder) or manifest.get("ingest") != readers_digest() \
                or manifest.get("sources") != [str(s) for s in sources] \
                or any("passages" not in f for f in manifest.get("files", [])):
            return None
        old = load_index(index_dir)
    except QAError:
        return None
    # the old BM25 postings are kept with its analyzer: a change of analysis changes lexical.LAYOUT,
    # and load_index refuses another layout
    return old if sum(f["passages"] for f in old.manifest["files"]) == len(old.passages) else None


def _old_rows(old: Index) -> dict[str, tuple[dict, int, int]]:
    """Each document of `old` that an update may keep: its file record and its rows (start, end)."""
    rows, at = {}, 0
    for record in old.manifest["files"]:
        count = record["passages"]
        if not record.get("skipped") and record.get("sha256") and record["doc"] in old.documents:
            rows[record["doc"]] = (record, at, at + count)
        at += count
    return rows


def _unchanged(file: Path, record: dict) -> bool:
    """Whether `file` holds the bytes `record` hashed: the same size and mtime, else the same hash."""
    try:
        stat = file.stat()
        if stat.st_size == record["size"] and stat.st_mtime_ns == record["mtime_ns"]:
            return True
        return stat.st_size == record["size"] and file_sha256(file) == record["sha256"]
    except OSError:
        return False


def _file_records(sources: list[Path], hashes: dict[str, str], counts: dict[str, int]) -> list[dict]:
    """Size, mtime, hash and passage count of every corpus file, skipped ones (unreadable, not UTF-8)
    included, so edits are seen; a file that cannot be read has no hash."""
    records = []
    for root, file in find_files(sources):
        name = doc_name(root, file)
        try:
            stat = file.stat()
            sha256 = hashes.get(name) or file_sha256(file)
        except OSError:
            stat, sha256 = None, None
        record = {"doc": name, "sha256": sha256, "size": stat.st_size if stat else None,
                  "mtime_ns": stat.st_mtime_ns if stat else None, "passages": counts.get(name, 0)}
        if name not in hashes:
            record["skipped"] = True
        records.append(record)
    return records
