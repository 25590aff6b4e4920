"""Readers for the formats qa indexes besides plain text: PDF, HTML and Word, each into one Document."""

from __future__ import annotations

from .document import Document, Section

READERS = {".pdf": "pdf", ".html": "html", ".htm": "html", ".docx": "docx"}


def reader(suffix: str):
    """The read function for a file suffix (".pdf", ".html", ".htm", ".docx"), or None; imported on demand
    so that a text-only index never loads a PDF or HTML library."""
    kind = READERS.get(suffix.lower())
    if kind is None:
        return None
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{kind}"), f"read_{kind}")


__all__ = ["Document", "Section", "READERS", "reader"]
