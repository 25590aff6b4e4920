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
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import QAError
from ..ingest import readers_digest
from ..ingest.files import Document, shown_path
from ..ingest.passages import Passage
from .ann import ANN_FROM, build_ann
from .build_delta import DeltaPlan, link_base, place_files, plan_delta, write_dead
from .build_rows import Fresh, Kept, Layout, Vectors, merge_runs, run_size, write_segment
from .corpus import CorpusScan, Unchanged, index_into
from .delta import DELTA
from .documents import DOCUMENTS, TEXTS, extracted_documents, write_documents
from .folder import (FORMAT, build_lock, check_index_target, hash_files, restamp_links, stamp_verified, staging_dir,
                     swap_into_place)
from .index import (ANN, BM25, DELTA_FORMAT_VERSION, DENSE, FORMAT_VERSION, MANIFEST, PASSAGES, SENTENCE_KEYS, SENTENCE_SPANS,
                    SENTENCE_VECTORS, TEXT_KEYS, Index, ProgressFactory, Warn, _flat_vectors, _intact, index_exists,
                    load_index, read_manifest)
from . import local
from .lexical import LENGTHS
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
    """`build_index` under the build lock: the corpus pipeline into the folder."""
    return index_into(FolderSink(sources, index_dir, embedder, warn, progress, reuse), sources, warn)


class FolderSink:
    """The index folder as the corpus pipeline's sink (store/base.py's `Sink`): with `reuse`, the index
    there lends its unchanged documents' rows, copied as they are, and its extracted documents."""

    def __init__(self, sources: list[Path], index_dir: Path, embedder, warn: Warn | None,
                 progress: ProgressFactory | None, reuse: bool) -> None:
        self.index_dir, self.embedder, self.warn, self.progress, self.reuse = index_dir, embedder, warn, progress, reuse
        intact = reuse and _intact(index_dir)
        self.old = _spliceable(index_dir, embedder, [Path(s).resolve() for s in sources]) if intact else None
        self.rows = _old_rows(self.old) if self.old is not None else {}
        # unchanged PDF, HTML and Word files are taken from the index there, not parsed again
        self.known = extracted_documents(index_dir) if intact else {}

    def held(self) -> dict[str, dict]:
        return {name: row[0] for name, row in self.rows.items()}

    def write(self, scan: CorpusScan) -> Index:
        old = self.old
        entries, documents = [], []  # entries: each document's (name, piece), in order
        for name, item in scan.entries:
            if isinstance(item, Unchanged):
                _, start, end, segment = self.rows[name]
                documents.append(old.documents[name])
                entries.append((name, Kept(start, end, segment)))
            else:
                documents.append(item.document)
                entries.append((name, Fresh(item.passages)))
        files = scan.files
        if old is not None and _unplaced(files) == _unplaced(old.manifest["files"]) \
                and all(isinstance(p, Kept) for _, p in entries):
            return old  # nothing changed
        corpus = scan.corpus
        plan = plan_delta(entries, old, local.EXACT_UP_TO)  # a corpus searched whole is written whole
        if plan is not None:
            corpus["files"] = place_files(files, plan)
        pieces = plan.pieces if plan is not None else merge_runs([p for _, p in entries])
        return _write(pieces, documents, self.index_dir, self.embedder, corpus, old, self.progress, self.warn,
                      self.reuse, plan)


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
           progress: ProgressFactory | None, warn: Warn | None, reuse: bool, plan: DeltaPlan | None = None) -> Index:
    """The index of `pieces` (in row order) written to a staging folder and swapped into place (the
    caller holds the build lock); with `plan`, `old`'s base is linked as it is and `pieces` are its delta."""
    from ..embed.onnx import onnx_for_index
    from ..embed.onnx_export import place_file

    count = sum(run_size(p) for p in pieces) + (len(old.passages) - len(plan.dead) if plan is not None else 0)
    if count == 0:
        raise QAError("the corpus has no passages to index (every file is empty or furniture)")
    encoder = _encoder(embedder)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": embedder.model, **corpus,
                "passage_count": int(count), "ingest": readers_digest(),
                "files_written": {"passages": PASSAGES, "passage_offsets": OFFSETS, "passage_ids": IDS,
                                  "dense": DENSE, "bm25": BM25, "text_keys": TEXT_KEYS,
                                  "sentence_spans": SENTENCE_SPANS, "sentence_vectors": SENTENCE_VECTORS,
                                  "sentence_keys": SENTENCE_KEYS, "documents": DOCUMENTS, "texts": TEXTS}}
    index_dir = Path(index_dir)
    check_index_target(index_dir)
    try:
        with staging_dir(index_dir) as staging:
            spliced = old if plan is None else old.delta.segment if old.delta is not None else None
            layout = Layout.of(pieces, spliced)
            fresh_texts = layout.fresh_texts
            step = progress(fresh_texts) if progress and fresh_texts else None
            known, partial = _known_vectors(index_dir, embedder, encoder, reuse, warn)
            vectors = Vectors(embedder, known, partial, step)
            linked = {}
            if plan is None:
                dense = write_segment(pieces, layout, staging, vectors, old)
                if count >= ANN_FROM:
                    previous = (old.path / ANN, old.manifest["ann"]) if old is not None and old.manifest.get("ann") else None
                    manifest["ann"] = {"file": ANN, **build_ann(_flat_vectors(dense), staging / ANN, previous,
                                                                layout.old_to_new)}
                texts = int(count) + sum(len(s) for s in layout.spans)
            else:  # the base as it is, the rest in its delta
                linked = link_base(old, staging)
                # analyzed as the base was (and without importing bm25s for its stopwords: ~0.9 s)
                dense = write_segment(pieces, layout, staging / DELTA, vectors, spliced, old.bm25.analyzer)
                length_sum = write_dead(old, plan.dead, staging / DELTA) + \
                    int(np.load(staging / DELTA / BM25 / LENGTHS).sum(dtype=np.int64))
                span_rows = np.asarray(old.sentence_spans[:, 0])
                dead_sentences = int(np.sum(np.searchsorted(span_rows, plan.dead, "right")
                                            - np.searchsorted(span_rows, plan.dead, "left")))
                texts = int(count) + len(span_rows) - dead_sentences + sum(len(s) for s in layout.spans)
                manifest["files_written"]["delta"] = DELTA
                manifest["format_version"] = DELTA_FORMAT_VERSION
                manifest["delta"] = {"passage_count": int(count - len(old.passages) + len(plan.dead)),
                                     "base_count": len(old.passages), "dead": len(plan.dead), "length_sum": length_sum}
                if old.manifest.get("ann"):
                    manifest["ann"] = old.manifest["ann"]
            manifest["texts"] = {"embedded": vectors.embedded, "reused": texts - vectors.embedded,
                                 "embedding_seconds": round(vectors.seconds, 3)}
            manifest["dimension"] = int(dense.d)
            manifest["built_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            onnx = onnx_for_index(embedder, warn=warn)  # the model as ONNX, kept here so asking needs no torch
            if onnx:
                manifest["onnx"] = onnx[1]
            # what embedded the passages: "openvino bf16" vectors are within 1e-4 cosine of fp32 ones
            manifest["passage_encoder"] = encoder
            write_documents(staging, documents, old.path if old is not None else None)
            if onnx:
                _check_model(onnx)
                place_file(onnx[0], staging / onnx[1]["file"])
            _seal(staging, manifest, onnx, linked)
            swap_into_place(staging, index_dir)
            partial.remove()  # the index holds every vector now
    except OSError as exc:  # a full disk, a read-only folder, /proc
        raise QAError(f"cannot write the index at {shown_path(index_dir)} ({exc.strerror or exc})") from None
    restamp_links(index_dir, manifest)  # the old folder's removal changed the ctime of files linked from it
    return load_index(index_dir)  # the files as written (verified from the stamp the build wrote: no hashing)


def _seal(staging: Path, manifest: dict, onnx: tuple[Path, dict] | None, linked: dict[str, dict]) -> None:
    """Every file's hash into the manifest (`linked`: files linked from the index there, with their
    records), the verified stamp, and the manifest itself, last: a folder without one is never
    taken for an index."""
    manifest["file_hashes"] = hash_files(staging, linked)  # checked at every load: damage is never used
    if onnx and not os.path.samefile(onnx[0], staging / onnx[1]["file"]):  # a copy: checked as kept
        _check_model((staging / onnx[1]["file"], onnx[1]))
    stamp_verified(staging, manifest)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _check_model(onnx: tuple[Path, dict]) -> None:
    """A QAError when the ONNX file is not the model the passages were embedded with (damaged since)."""
    from ..embed.onnx_export import checked_sha256

    if checked_sha256(onnx[0]) != onnx[1]["sha256"]:
        raise QAError(f"the ONNX model {shown_path(onnx[0])} is damaged (its SHA-256 is not the one recorded "
                      f"for it): delete it and run `qa index` again to export it anew")


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
    """The passage and sentence vectors of the index at `index_dir` (its base's and its delta's) when
    they can stand for this model's and encoder's and its files are intact; read from its files
    directly, so that an index of an older layout, which `load_index` refuses, still lends its
    vectors to the rebuild."""
    try:
        manifest = read_manifest(index_dir) if index_exists(index_dir) else None
        if manifest is None or manifest.get("model") != model or manifest.get("passage_encoder") != encoder \
                or not _intact(index_dir):
            return
    except QAError:
        return
    for folder in (index_dir, index_dir / DELTA) if manifest.get("delta") else (index_dir,):
        _add_folder_vectors(known, folder)


def _add_folder_vectors(known: KnownVectors, index_dir: Path) -> None:
    """The passage and sentence vectors of one folder of index files, when they can be read."""
    import faiss

    try:
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
    if dense.ntotal and len(passage_keys) == dense.ntotal and len(sentence_keys) == len(sentence_vectors):
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
    return old if sum(f["passages"] for f in old.manifest["files"]) == old.manifest["passage_count"] else None


def _old_rows(old: Index) -> dict[str, tuple[dict, int, int, Index]]:
    """Each document of `old` that an update may keep: its file record, its rows (start, end) and
    the segment holding them (`old`, or its delta: the record's `segment` and `row` say)."""
    base, delta = old, old.delta.segment if old.delta is not None else None
    rows, at = {}, 0
    for record in old.manifest["files"]:
        count = record["passages"]
        start = int(record.get("row", at))
        if not record.get("skipped") and record.get("sha256") and record["doc"] in old.documents:
            rows[record["doc"]] = (record, start, start + count, delta if record.get("segment") == DELTA else base)
        at += count
    return rows


def _unplaced(files: list[dict]) -> list[dict]:
    """File records without their place in a delta index (`segment`, `row`): the corpus they record."""
    return [{k: v for k, v in record.items() if k not in ("segment", "row")} for record in files]
