"""The write side's one pipeline: corpus files to passages, reading only what the store does not hold as it is.

Every store is a sink of this pipeline (store/base.py's `Sink`): it says which documents it holds and
the file each was made from (`held`), then takes the scan (`write`): it keeps what it holds of the
`Unchanged` documents and embeds and writes the `Changed` ones. A file whose size and mtime, else its
hash, are those the sink recorded is not read again; the others are read and split here, the same
for every store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import QAError
from ..ingest.files import Document, doc_name, file_sha256, find_files, read_document
from ..ingest.passages import Passage, split_document

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Unchanged:
    """A document the sink holds as its file is now: `record` is the sink's record of that file."""

    record: dict


@dataclass(frozen=True)
class Changed:
    """A document read and split by this scan (new, or its file changed since the sink took it)."""

    document: Document
    passages: list[Passage]


@dataclass(frozen=True)
class CorpusScan:
    """The corpus under `sources` (resolved) as the sink should hold it: each readable document, in
    corpus order, `Unchanged` or `Changed`; `files`, a record per corpus file (skipped ones included)."""

    sources: list[Path]
    entries: list[tuple[str, Unchanged | Changed]]
    files: list[dict]

    @property
    def changed(self) -> list[Changed]:
        return [item for _, item in self.entries if isinstance(item, Changed)]

    @property
    def corpus(self) -> dict:
        """What a store records of the corpus it was made from (`stale_reason` reads it)."""
        return {"sources": [str(s) for s in self.sources], "files": self.files}


def index_into(sink, sources: list[Path], warn: Warn | None = None):
    """The pipeline: the corpus under `sources` scanned against what `sink` holds, then written by it."""
    return sink.write(scan_corpus(sources, sink.held(), warn, getattr(sink, "known", None)))


def scan_corpus(sources: list[Path], held: dict[str, dict], warn: Warn | None = None,
                known: dict[str, Document] | None = None) -> CorpusScan:
    """The corpus under `sources` against what the sink holds (`held`: document name → the record of the
    file it was made from: sha256, and size and mtime_ns when known); only the files that differ are read
    (a PDF, HTML or Word file whose bytes are those of a `known` document is taken from there)."""
    paths = [Path(s) for s in sources]
    entries: list[tuple[str, Unchanged | Changed]] = []
    hashes: dict[str, str] = {}
    counts: dict[str, int] = {}
    for root, file in find_files(paths, warn=warn):  # errors name paths as given
        name = doc_name(root, file)
        if name in hashes:
            continue
        record = held.get(name)
        if record is not None and unchanged(file, record):
            hashes[name], counts[name] = record["sha256"], int(record.get("passages", 0))
            entries.append((name, Unchanged(record)))
            continue
        document = read_document(file, name, warn or (lambda message: None), known)
        if document is not None:
            passages = split_document(document)
            hashes[name], counts[name] = document.sha256, len(passages)
            entries.append((name, Changed(document, passages)))
    if not entries:
        raise QAError("no readable documents to index (every file was skipped)")
    resolved = [p.resolve() for p in paths]
    return CorpusScan(resolved, entries, file_records(resolved, hashes, counts))


def unchanged(file: Path, record: dict) -> bool:
    """Whether `file` holds the bytes `record` hashed: the same size and mtime, else the same hash."""
    try:
        stat = file.stat()
        if record.get("size") is not None and stat.st_size == record["size"] and \
                stat.st_mtime_ns == record.get("mtime_ns"):
            return True
        return stat.st_size == record.get("size", stat.st_size) and file_sha256(file) == record["sha256"]
    except OSError:
        return False


def file_records(sources: list[Path], hashes: dict[str, str], counts: dict[str, int]) -> list[dict]:
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
