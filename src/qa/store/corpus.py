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
from ..ingest.document import Skip
from ..ingest.files import Document, doc_name, file_sha256, find_files, read_document
from ..ingest.outcomes import kept_outcome, outcome
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


# Reads and splits many files at once (`qa index --ray`: src/qa/scaleout/reading.py): (file, name, the
# document an earlier build extracted from it or None), in corpus order → each one's document and
# passages, or None where it is unreadable (said through the warn it is given).
Reader = Callable[[list[tuple[Path, str, Document | None]], Warn | None], list[tuple[Document, list[Passage]] | None]]


def index_into(sink, sources: list[Path], warn: Warn | None = None, reader: Reader | None = None):
    """The pipeline: the corpus under `sources` scanned against what `sink` holds, then written by it."""
    return sink.write(scan_corpus(sources, sink.held(), warn, getattr(sink, "known", None), reader))


def read_and_split(file: Path, name: str, warn: Warn | None, known: dict | None) -> tuple[Document, list[Passage]] | None:
    """One corpus file read and cut into passages (None: unreadable, said through `warn`)."""
    document = read_document(file, name, warn or (lambda message: None), known)
    return (document, split_document(document)) if document is not None else None


def scan_corpus(sources: list[Path], held: dict[str, dict], warn: Warn | None = None,
                known: dict[str, Document] | None = None, reader: Reader | None = None) -> CorpusScan:
    """The corpus under `sources` against what the sink holds (`held`: document name → the record of the
    file it was made from: sha256, and size and mtime_ns when known); only the files that differ are read
    (a PDF, HTML or Word file whose bytes are those of a `known` document is taken from there), by
    `reader` all at once when given, else here one by one."""
    paths = [Path(s) for s in sources]
    entries: list[tuple[str, Unchanged | Changed]] = []
    hashes: dict[str, str] = {}
    counts: dict[str, int] = {}
    outcomes: dict[str, dict] = {}  # each file's outcome (read, plain, skipped), for its record
    stats: dict[str, tuple[int, int]] = {}  # (size, mtime_ns) of each file read when its bytes were read
    listed = [(file, doc_name(root, file)) for root, file in find_files(paths, warn=warn)]  # errors name paths as given
    same = {(file, name): name in held and unchanged(file, held[name]) for file, name in _first_of_each(listed)}
    ahead_skips: list[Skip] = []
    read = _read_ahead(same, known or {}, reader, _noting(warn, ahead_skips))
    for file, name in listed:
        if name in hashes:
            continue
        record = held.get(name)
        if same[file, name] if (file, name) in same else record is not None and unchanged(file, record):
            hashes[name], counts[name] = record["sha256"], int(record.get("passages", 0))
            outcomes[name] = kept_outcome(record)
            entries.append((name, Unchanged(record)))
            continue
        # read ahead (by `reader`) when it is a name's first file; a second file of a name whose first
        # was unreadable is read here, as without a reader
        skips: list[Skip] = []
        if name in read:
            result = read.pop(name)
            skips = [s for s in ahead_skips if s.startswith(f"skipped {name}: ")]
        else:
            result = read_and_split(file, name, _noting(warn, skips), known)
        outcomes[name] = outcome(result[0] if result is not None else None, skips[-1] if skips else None)
        if result is not None:
            document, passages = result
            if document.read_stat is not None:
                stats[name] = document.read_stat
            hashes[name], counts[name] = document.sha256, len(passages)
            entries.append((name, Changed(document, passages)))
    if not entries:
        raise QAError("no readable documents to index (every file was skipped)")
    resolved = [p.resolve() for p in paths]
    return CorpusScan(resolved, entries, file_records(resolved, hashes, counts, outcomes, stats))


def _noting(warn: Warn | None, skips: list[Skip]) -> Warn:
    """`warn`, also keeping the warnings that say a file was skipped (its reason goes in its record)."""
    def said(message: str) -> None:
        if isinstance(message, Skip):
            skips.append(message)
        if warn:
            warn(message)
    return said


def _first_of_each(listed: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """The first file listed under each name (two roots may hold the same relative path)."""
    firsts: dict[str, Path] = {}
    for file, name in listed:
        firsts.setdefault(name, file)
    return [(file, name) for name, file in firsts.items()]


def _read_ahead(same: dict[tuple[Path, str], bool], known: dict, reader: Reader | None, warn: Warn | None) -> dict:
    """Name → what `reader` made of each name's first file that is to be read (`same`: whether each
    name's first file is unchanged); empty without a reader."""
    if reader is None:
        return {}
    wanted = [(file, name, known.get(name)) for (file, name), kept in same.items() if not kept]
    return {name: result for (_, name, _), result in zip(wanted, reader(wanted, warn))}


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


def file_records(sources: list[Path], hashes: dict[str, str], counts: dict[str, int],
                 outcomes: dict[str, dict] | None = None, stats: dict[str, tuple[int, int]] | None = None) -> list[dict]:
    """Size, mtime, hash, passage count and outcome of every corpus file, skipped ones (unreadable, not
    UTF-8) included, so edits are seen; a file that cannot be read (or that qa refuses: a FIFO, a
    sparse file) has no hash. A file read in this scan has the size and mtime it had when read: one
    edited since is seen as changed by the next build."""
    records = []
    for root, file in find_files(sources):
        name = doc_name(root, file)
        try:
            stat = file.stat()
            size, mtime_ns = (stats or {}).get(name) or (stat.st_size, stat.st_mtime_ns)
            # a file that kept changing while read has no hash: the index stays stale until it is read
            changing = (outcomes or {}).get(name, {}).get("short") == "changing"
            sha256 = hashes.get(name) or (None if changing else file_sha256(file))
        except OSError:
            size = mtime_ns = sha256 = None
        record = {"doc": name, "sha256": sha256, "size": size, "mtime_ns": mtime_ns, "passages": counts.get(name, 0)}
        if name not in hashes:
            record["skipped"] = True
        record.update((outcomes or {}).get(name) or {"outcome": "skipped" if name not in hashes else "read"})
        records.append(record)
    return records
