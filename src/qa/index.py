"""Index: passages, their FAISS vectors and a manifest, written atomically as plain versioned files."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from .documents import Document, file_sha256, find_files, read_documents, doc_name
from .errors import QAError
from .lexical import BM25Scores, write_bm25
from .passages import Passage, sentence_spans, split_documents

FORMAT = "qa-index"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
DENSE = "dense.faiss"
BM25 = "bm25"
SENTENCE_SPANS = "sentence_spans.npy"  # rows of (passage row, start, end), for highlights
SENTENCE_VECTORS = "sentence_vectors.npy"

Warn = Callable[[str], None]
ProgressFactory = Callable[[int], Callable[[int], None]]


@dataclass
class Index:
    """A loaded index: the passages in id order of the FAISS rows, the FAISS index, the manifest."""

    path: Path
    manifest: dict
    passages: list[Passage]
    dense: object  # faiss.Index
    bm25: object = None  # lexical.BM25Scores
    sentence_spans: np.ndarray | None = None
    sentence_vectors: np.ndarray | None = None
    extras: dict = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.manifest["model"]

    def vectors(self) -> np.ndarray:
        """The passage vectors as one (passages × dimension) float32 matrix, read once."""
        if "_vectors" not in self.extras:
            self.extras["_vectors"] = self.dense.reconstruct_n(0, self.dense.ntotal)
        return self.extras["_vectors"]

    def holds_mask(self, answer_type: str) -> np.ndarray:
        """1.0 for each passage that holds an answer of `answer_type` ('year' or 'number'), else 0.0."""
        from .answerability import holds

        key = f"_holds_{answer_type}"
        if key not in self.extras:
            self.extras[key] = np.array([holds(answer_type, p.text) for p in self.passages], dtype=np.float32)
        return self.extras[key]

    def section_ids(self) -> np.ndarray:
        """One integer per passage naming its (document, section)."""
        if "_sections" not in self.extras:
            keys: dict[tuple[str, str], int] = {}
            self.extras["_sections"] = np.array(
                [keys.setdefault((p.doc, p.section), len(keys)) for p in self.passages], dtype=np.int64
            )
        return self.extras["_sections"]

    def passage_by_id(self) -> dict[str, int]:
        if "_by_id" not in self.extras:
            self.extras["_by_id"] = {p.id: i for i, p in enumerate(self.passages)}
        return self.extras["_by_id"]


def build_index(
    sources: list[Path],
    index_dir: Path,
    embedder,
    warn: Warn | None = None,
    progress: ProgressFactory | None = None,
) -> Index:
    """Read, split and embed the corpus files under `sources` into `index_dir`, atomically."""
    documents = read_documents([Path(s) for s in sources], warn=warn)  # errors name the paths as given
    sources = [Path(s).resolve() for s in sources]
    passages = split_documents(documents)
    if not passages:
        raise QAError("the corpus has no passages to index (every file is empty or furniture)")
    corpus = {"sources": [str(s) for s in sources], "files": _file_records(sources, documents)}
    return write_index(passages, index_dir, embedder, corpus, progress=progress, warn=warn)


def write_index(
    passages: list[Passage],
    index_dir: Path,
    embedder,
    corpus: dict,
    progress: ProgressFactory | None = None,
    warn: Warn | None = None,
) -> Index:
    """Embed ready-made passages and write them to `index_dir`, replacing any index there atomically.

    `corpus` goes into the manifest as is (`sources` and `files` let `stale_reason` check it).
    """
    import faiss

    from .onnx_embedder import onnx_for_index, place_file

    texts = [p.embedding_text() for p in passages]
    spans = np.array(
        [(row, a, b) for row, p in enumerate(passages) for a, b in sentence_spans(p)], dtype=np.int64
    ).reshape(-1, 3)
    sentences = [passages[row].text[a - passages[row].start : b - passages[row].start] for row, a, b in spans]
    step = progress(len(texts) + len(sentences)) if progress else None
    # an embedder may have a faster way for many texts (OnnxEmbedder: OpenVINO); questions never use it
    encode = getattr(embedder, "encode_passages", embedder.encode)
    vectors = encode(texts, progress=step)
    sentence_vectors = encode(sentences, progress=step)
    dense = faiss.IndexFlatIP(vectors.shape[1])
    dense.add(vectors)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": embedder.model,
        "dimension": int(vectors.shape[1]),
        **corpus,
        "passage_count": len(passages),
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files_written": {"passages": PASSAGES, "dense": DENSE, "bm25": BM25,
                          "sentence_spans": SENTENCE_SPANS, "sentence_vectors": SENTENCE_VECTORS},
    }
    onnx = onnx_for_index(embedder, warn=warn)  # the model as ONNX, kept here so asking needs no torch
    if onnx:
        manifest["onnx"] = onnx[1]
    # what embedded the passages: "openvino bf16" vectors are within 1e-4 cosine of fp32 ones
    manifest["passage_encoder"] = getattr(embedder, "passage_encoder", type(embedder).__name__)
    index_dir = Path(index_dir)
    with _staging_dir(index_dir) as staging:
        with open(staging / PASSAGES, "w", encoding="utf-8") as out:
            for passage in passages:
                out.write(json.dumps(passage.to_dict(), ensure_ascii=False) + "\n")
        faiss.write_index(dense, str(staging / DENSE))
        write_bm25([p.lexical_text() for p in passages], staging / BM25)
        np.save(staging / SENTENCE_SPANS, spans, allow_pickle=False)
        np.save(staging / SENTENCE_VECTORS, sentence_vectors, allow_pickle=False)
        if onnx:
            place_file(onnx[0], staging / onnx[1]["file"])
        # The manifest is written last: a folder without one is never taken for an index.
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _swap_into_place(staging, index_dir)
    return Index(index_dir, manifest, passages, dense, BM25Scores(index_dir / BM25), spans, sentence_vectors)


def load_index(index_dir: Path, mmap: bool = False) -> Index:
    """Load an index written by `build_index`; `mmap` maps the FAISS file instead of reading it."""
    import faiss

    index_dir = Path(index_dir)
    if not index_exists(index_dir):
        raise QAError(f"no index at {index_dir}: run `qa index` to build one", status=503)
    manifest = read_manifest(index_dir)
    try:
        with open(index_dir / PASSAGES, encoding="utf-8") as lines:
            passages = [Passage(**json.loads(line)) for line in lines if line.strip()]
        flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        dense = faiss.read_index(str(index_dir / DENSE), flags)
        bm25 = BM25Scores(index_dir / BM25, mmap=mmap)
        mode = "r" if mmap else None
        spans = np.load(index_dir / SENTENCE_SPANS, mmap_mode=mode, allow_pickle=False)
        sentence_vectors = np.load(index_dir / SENTENCE_VECTORS, mmap_mode=mode, allow_pickle=False)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise _corrupt(index_dir, exc) from exc
    if not (len(passages) == manifest.get("passage_count") == dense.ntotal == bm25.num_docs):
        raise _corrupt(index_dir, "passage count does not match the manifest")
    if spans.ndim != 2 or spans.shape[1] != 3 or len(spans) != len(sentence_vectors):
        raise _corrupt(index_dir, "sentence arrays do not match")
    return Index(index_dir, manifest, passages, dense, bm25, spans, sentence_vectors)


def index_exists(index_dir: Path) -> bool:
    """True when something index-like is there (a corrupt one included), False for no index."""
    index_dir = Path(index_dir)
    return index_dir.is_dir() and any(index_dir.iterdir())


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


def stale_reason(manifest: dict, model: str) -> str | None:
    """Why an index no longer matches its corpus or the requested model, or None when it is current."""
    if manifest.get("model") != model:
        return f"it was built with model {manifest.get('model')!r}, not {model!r}"
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
        stat = current[name].stat()
        if stat.st_size == record["size"] and stat.st_mtime_ns == record["mtime_ns"]:
            continue  # unchanged since it was hashed
        if file_sha256(current[name]) != record["sha256"]:
            return f"{name} changed"
    return None


def _file_records(sources: list[Path], documents: list[Document]) -> list[dict]:
    """Size, mtime and hash of every corpus file, skipped ones (not UTF-8) included, so edits are seen."""
    hashes = {d.path: d.sha256 for d in documents}
    records = []
    for root, file in find_files(sources):
        name = doc_name(root, file)
        stat = file.stat()
        record = {"doc": name, "sha256": hashes.get(name) or file_sha256(file), "size": stat.st_size,
                  "mtime_ns": stat.st_mtime_ns}
        if name not in hashes:
            record["skipped"] = True
        records.append(record)
    return records


def _corrupt(index_dir: Path, why) -> QAError:
    return QAError(f"index at {index_dir} is corrupt or incomplete ({why}): run `qa index` to rebuild it", status=503)


class _staging_dir:
    """A temporary folder beside the target, removed unless it was swapped into place."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __enter__(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.tmp-", dir=self.target.parent))
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _swap_into_place(staging: Path, target: Path) -> None:
    """Make `staging` the index at `target` in one step, so a reader never sees half of either.

    Linux's renameat2(RENAME_EXCHANGE) swaps two folders atomically; Python has no wrapper, so it is
    called through libc. Elsewhere the old folder is renamed aside first (a short window with none).
    """
    for f in (p for p in staging.rglob("*") if p.is_file()):  # data on disk before the swap publishes it
        with open(f, "rb") as handle:
            os.fsync(handle.fileno())
    if target.exists() and _rename_exchange(staging, target):
        return  # staging now holds the old index and is removed by the caller
    if target.exists():
        aside = target.with_name(f".{target.name}.old-{os.getpid()}-{time.time_ns()}")
        os.rename(target, aside)
        os.rename(staging, target)
        staging.mkdir()  # the caller removes it
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.rename(staging, target)
        staging.mkdir()


def _rename_exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    result = renameat2(AT_FDCWD, os.fsencode(str(a)), AT_FDCWD, os.fsencode(str(b)), RENAME_EXCHANGE)
    return result == 0
