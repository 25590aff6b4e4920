"""Readers for the formats qa indexes besides plain text: PDF, HTML and Word, each into one Document."""

from __future__ import annotations

from .document import Document, Section

READERS = {".pdf": "pdf", ".html": "html", ".htm": "html", ".docx": "docx"}
# Read in a forked child under a memory limit and a time budget (ingest.isolated): PDFium's C code and
# python-docx's whole-file XML trees grow with what a file declares; a web page is bounded by its size
# and nesting depth instead (html.py), where a fork a page would cost more than the read.
ISOLATED = (".pdf", ".docx")


def readers_digest() -> str:
    """A digest of this package's code: an extracted text is reused by a later build only when the
    readers that made it are the ones there now (a changed reader reads every file again)."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


def reader(suffix: str):
    """The read function for a file suffix (".pdf", ".html", ".htm", ".docx"), or None; imported on demand
    so that a text-only index never loads a PDF or HTML library."""
    kind = READERS.get(suffix.lower())
    if kind is None:
        return None
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{kind}"), f"read_{kind}")


def plain_only_reader(suffix: str):
    """The reader of `suffix`'s plain path alone, `read(path, name, warn, why)` (PDF, Word), or None."""
    kind = READERS.get(suffix.lower())
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{kind}"), f"read_{kind}_plain_only", None) if kind else None


__all__ = ["Document", "Section", "READERS", "reader", "readers_digest"]
