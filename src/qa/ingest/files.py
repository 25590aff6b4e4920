"""Documents: find the corpus files under the given paths and read each into a Document.

.txt and .md are read exactly as stored (offsets index the file); PDF, HTML and Word files go
through their reader in `ingest/` (offsets index the extracted text, which the index keeps).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

from ..errors import QAError
from . import ISOLATED, READERS, plain_only_reader, reader
from .bounds import Changed, read_checked
from .document import Document, Skip, Unreadable, file_sha256
from .isolated import read_isolated

PLAIN_SUFFIXES = (".txt", ".md")
SUFFIXES = (*PLAIN_SUFFIXES, *READERS)
KINDS = "a .txt, .md, .pdf, .html, .htm or .docx file"

Warn = Callable[[str], None]


def find_files(paths: list[Path], warn: Warn | None = None) -> list[tuple[Path, Path]]:
    """Every .txt/.md file under `paths`, as (root, file) pairs in a stable order.

    A folder is its files' root; a file given directly has its own folder as root. A folder that
    cannot be listed (permissions) is skipped, with a warning naming it when `warn` is given.
    """
    found: list[tuple[Path, Path]] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise QAError(f"corpus path does not exist: {shown_path(path)}")
        if path.is_dir():
            found.extend((path, f) for f in _walk(path, warn))
        elif path.suffix.lower() in SUFFIXES:
            found.append((path.parent, path))
        else:
            raise QAError(f"not {KINDS}: {shown_path(path)}")
    if not found:
        shown = ", ".join(shown_path(p) for p in paths)
        raise QAError(f"no .txt, .md, .pdf, .html or .docx files found in {shown}")
    return found


def _walk(root: Path, warn: Warn | None) -> list[Path]:
    """The corpus files under `root`, sorted, hidden files and folders left out.

    os.walk rather than Path.rglob: rglob passes over a folder it cannot list without a word, and a
    skipped folder must be said.
    """

    def unlistable(error: OSError) -> None:
        if warn:
            warn(f"skipped {shown_path(error.filename)}: cannot be read ({error.strerror})")

    files = []
    for folder, subfolders, names in os.walk(root, onerror=unlistable):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        for name in names:
            file = Path(folder, name)
            # not only regular files: a FIFO or a link to a device is refused with a warning by the reader
            if not name.startswith(".") and file.suffix.lower() in SUFFIXES and not file.is_dir():
                files.append(file)
    return sorted(files)


def read_documents(paths: list[Path], warn: Warn | None = None,
                   known: dict[str, Document] | None = None) -> list[Document]:
    """Read every corpus file; one that cannot be read (permissions, not UTF-8, a broken or encrypted
    PDF, ...) is skipped with a warning naming it. A PDF, HTML or Word file whose bytes are those of
    the same document in `known` (an earlier build's) is taken from there instead of read again."""
    documents: list[Document] = []
    seen: set[str] = set()
    warn = warn or (lambda message: None)
    for root, file in find_files(paths, warn=warn):
        name = doc_name(root, file)
        if name in seen:
            continue
        document = read_document(file, name, warn, known)
        if document is not None:
            seen.add(name)
            documents.append(document)
    if not documents:
        raise QAError("no readable documents to index (every file was skipped)")
    return documents


def read_document(file: Path, name: str, warn: Warn, known: dict[str, Document] | None = None) -> Document | None:
    """One corpus file as the Document cited as `name` (from `known` when its bytes are unchanged), or
    None with a warning when it cannot be read. A file that changes while it is read is read again
    once, then left for the next run: its record never pairs a new size and mtime with an old hash."""
    read = reader(file.suffix)
    document = _unchanged(file, (known or {}).get(name)) if read else None
    if document is not None:
        return document
    for _ in range(2):
        try:
            if read is not None and file.suffix.lower() in ISOLATED:  # bounded from outside
                return read_isolated(read, file, name, warn, plain=plain_only_reader(file.suffix))
            return read(file, name, warn) if read else _read_plain(file, name, warn)
        except Changed:
            continue
    warn(Skip(name, "changed while it was read; left for the next run", "changing"))
    return None


def _unchanged(file: Path, known: Document | None) -> Document | None:
    """`known` when `file` still holds the bytes it was read from (hashing is far cheaper than parsing)."""
    try:
        return known if known is not None and file_sha256(file) == known.sha256 else None
    except OSError:
        return None


def _read_plain(file: Path, name: str, warn: Warn) -> Document | None:
    """A .txt or .md file's exact characters (\r\n kept, so offsets index the file), or None."""
    kind = "markdown" if file.suffix.lower() == ".md" else "text"
    try:
        data, info = read_checked(file, kind)
        if b"\0" in data:  # text has no NUL bytes; an image or a disk dump named .txt does
            raise Unreadable(f"binary data (a NUL byte at {data.index(0)}), not text", "binary")
    except Unreadable as exc:
        warn(Skip(shown_path(file), str(exc), exc.short))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        warn(Skip(shown_path(file), f"not valid UTF-8 (byte {exc.start})", "not UTF-8"))
        return None
    if text.startswith("\ufeff"):
        text = text[1:]  # a BOM is an encoding mark, not content; offsets count from after it
    return Document(path=name, text=text, sha256=hashlib.sha256(data).hexdigest(), kind=kind,
                    read_stat=(info.st_size, info.st_mtime_ns))


def doc_name(root: Path, file: Path) -> str:
    """The document's name in citations: its path relative to the corpus root, with / separators.

    A file name holding bytes that are not UTF-8 is shown with those bytes escaped (`bad\\xff.txt`),
    so the name can be printed and stored as JSON; the file itself is found by its real path.
    """
    try:
        name = Path(os.path.relpath(file, root)).as_posix()
    except ValueError:
        name = Path(file).name
    return shown_path(name)


def shown_path(path) -> str:
    """`path` as printable text: bytes that are not UTF-8 (surrogate escapes) as \\xNN."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")
