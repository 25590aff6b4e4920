"""Documents: find the .txt/.md files under the given paths and read them exactly as stored."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import QAError

SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class Document:
    """One corpus file: `path` is relative to the corpus root, `text` is the file's exact characters."""

    path: str
    text: str
    sha256: str


def find_files(paths: list[Path]) -> list[tuple[Path, Path]]:
    """Every .txt/.md file under `paths`, as (root, file) pairs in a stable order.

    A folder is its files' root; a file given directly has its own folder as root.
    """
    found: list[tuple[Path, Path]] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise QAError(f"corpus path does not exist: {path}")
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUFFIXES and not _hidden(p.relative_to(path))
            )
            found.extend((path, f) for f in files)
        elif path.suffix.lower() in SUFFIXES:
            found.append((path.parent, path))
        else:
            raise QAError(f"not a .txt or .md file: {path}")
    if not found:
        shown = ", ".join(str(p) for p in paths)
        raise QAError(f"no .txt or .md files found in {shown}")
    return found


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def file_sha256(path: Path) -> str:
    """The file's SHA-256, read in 1 MiB blocks (model files are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_documents(paths: list[Path], warn=None) -> list[Document]:
    """Read every corpus file; a file that is not valid UTF-8 is skipped with a warning naming it."""
    documents: list[Document] = []
    seen: set[str] = set()
    for root, file in find_files(paths):
        data = file.read_bytes()
        try:
            # newline="" semantics: keep \r\n so offsets index the file's own characters.
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if warn:
                warn(f"skipped {file}: not valid UTF-8 (byte {exc.start})")
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
    """The document's name in citations: its path relative to the corpus root, with / separators."""
    try:
        return Path(os.path.relpath(file, root)).as_posix()
    except ValueError:
        return Path(file).name
