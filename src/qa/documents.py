"""Documents: find the .txt/.md files under the given paths and read them exactly as stored."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import QAError

SUFFIXES = (".txt", ".md")

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Document:
    """One corpus file: `path` is relative to the corpus root, `text` is the file's exact characters."""

    path: str
    text: str
    sha256: str


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
            raise QAError(f"not a .txt or .md file: {shown_path(path)}")
    if not found:
        shown = ", ".join(shown_path(p) for p in paths)
        raise QAError(f"no .txt or .md files found in {shown}")
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
            if not name.startswith(".") and file.suffix.lower() in SUFFIXES and file.is_file():
                files.append(file)
    return sorted(files)


def file_sha256(path: Path) -> str:
    """The file's SHA-256, read in 1 MiB blocks (model files are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_documents(paths: list[Path], warn: Warn | None = None) -> list[Document]:
    """Read every corpus file; one that cannot be read or is not valid UTF-8 is skipped with a warning."""
    documents: list[Document] = []
    seen: set[str] = set()
    for root, file in find_files(paths, warn=warn):
        try:
            data = file.read_bytes()
        except OSError as exc:
            if warn:
                warn(f"skipped {shown_path(file)}: cannot be read ({exc.strerror})")
            continue
        try:
            # newline="" semantics: keep \r\n so offsets index the file's own characters.
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if warn:
                warn(f"skipped {shown_path(file)}: not valid UTF-8 (byte {exc.start})")
            continue
        if text.startswith("\ufeff"):
            text = text[1:]  # a BOM is an encoding mark, not content; offsets count from after it
        name = doc_name(root, file)
        if name in seen:
            continue
        seen.add(name)
        documents.append(Document(path=name, text=text, sha256=hashlib.sha256(data).hexdigest()))
    if not documents:
        raise QAError("no readable .txt or .md files to index (every file was skipped)")
    return documents


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
