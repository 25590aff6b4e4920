"""The Document every reader returns, and the builder that lays out its text, sections and pages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Section:
    """A heading's reach: `text[start:end]` is the heading line and everything under it."""

    start: int
    end: int
    heading: str
    level: int  # 1 = the document's title, 2 = its chapters, ...


@dataclass(frozen=True)
class Document:
    """One corpus file as the index keeps it: `text` is the extracted text every offset indexes."""

    path: str
    text: str
    sha256: str
    sections: tuple[Section, ...] = ()  # from the document's own structure; empty = let the splitter find headings
    pages: tuple[tuple[int, int], ...] | None = None  # (start, end) of page N+1 in text; None when unpaged
    kind: str = "text"  # "text", "markdown", "pdf", "html", "docx"
    code: tuple[tuple[int, int], ...] = ()  # (start, end) of each code block, listing or transcript in text


class Unreadable(Exception):
    """A file the reader cannot turn into text; the message is the reason shown after the file's name."""


Warn = Callable[[str], None]


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def guarded(kind: str, extract: Callable[[Path, "Builder"], None], path: Path, name: str, warn: Warn) -> Document | None:
    """Run one reader's `extract` into a fresh Builder; any failure is one warning and None, never a raise.
    A file read only in part (a damaged page) is returned, with one warning per note the reader made."""
    try:
        builder = Builder()
        extract(path, builder)
        if not builder.has_text():
            raise Unreadable("no text found")
        document = builder.document(name, file_sha256(path), kind)
        for note in builder.notes:  # read, but not all of it: said once each, after the name
            warn(f"{name}: {note}")
        return document
    except Unreadable as exc:
        warn(f"skipped {name}: {exc}")
    except Exception as exc:  # a broken file can make a library raise anything; the index must go on
        warn(f"skipped {name}: cannot be read as {kind.upper()} ({type(exc).__name__}: {exc})")
    return None


@dataclass
class Builder:
    """Appends headings and paragraphs with blank lines between them, recording sections and pages exactly."""

    parts: list[str] = field(default_factory=list)
    size: int = 0
    heads: list[tuple[int, str, int]] = field(default_factory=list)  # (start, heading, level)
    page_ranges: list[tuple[int, int]] = field(default_factory=list)
    page_start: int | None = None
    notes: list[str] = field(default_factory=list)
    undo: tuple[int, int, int] | None = None  # (parts, size) before the last heading, and the size after it
    code_spans: list[tuple[int, int]] = field(default_factory=list)

    def paragraph(self, text: str, continues: bool = False, glued: bool = False, code: bool = False) -> int:
        """Add one paragraph and return its offset; `continues` joins it to the previous one by a single
        line break (a sentence that runs on over a page break) instead of a blank line, `glued` by
        nothing at all (a word hyphenated over a page break); `code` marks it a code block (see code)."""
        text = text.strip()
        if not text:
            return self.size
        if self.size:
            sep = "" if glued else "\n" if continues else "\n\n"
            self.parts.append(sep)
            self.size += len(sep)
        start = self.size
        self.parts.append(text)
        self.size += len(text)
        if self.page_start is None:
            self.page_start = start
        if code:
            self.code(start, self.size)
        return start

    def code(self, start: int, end: int) -> None:
        """Mark text[start:end] as a code block, a listing or a transcript: the splitter never packs it
        with the prose around it."""
        if start < end:
            self.code_spans.append((start, end))

    def heading(self, text: str, level: int) -> None:
        """Add a heading paragraph and its section. A heading left with nothing under it when the next
        one of its rank or above comes ("Contents" over a menu that was dropped) is taken back out."""
        text = " ".join(text.split())
        if not text:
            return
        if self.undo is not None and self.undo[2] == self.size and self.heads[-1][2] >= level:
            self.heads.pop()
            del self.parts[self.undo[0]:]
            self.size = self.undo[1]
            if self.page_start is not None and self.page_start >= self.size:
                self.page_start = None
        before = (len(self.parts), self.size)
        self.heads.append((self.paragraph(text), text, level))
        self.undo = (*before, self.size)  # how to take this heading back while nothing follows it

    def mark(self, start: int, text: str, level: int) -> None:
        """A section whose heading is already in the text at `start` (a PDF outline entry)."""
        self.heads.append((start, " ".join(text.split()), level))

    def note(self, message: str) -> None:
        """Something the reader could not read in a file it otherwise read."""
        self.notes.append(message)

    def new_page(self) -> None:
        self.page_start = None

    def end_page(self) -> None:
        start = self.size if self.page_start is None else self.page_start
        self.page_ranges.append((start, self.size))
        self.page_start = None

    def has_text(self) -> bool:
        return self.size > 0

    def document(self, name: str, sha256: str, kind: str) -> Document:
        text = "".join(self.parts)
        heads = sorted(self.heads, key=lambda h: h[0])
        sections = []
        for i, (start, heading, level) in enumerate(heads):
            # A section runs to the next heading of its own level or above, so chapters hold their subsections.
            end = next((s for s, _, lv in heads[i + 1:] if lv <= level), len(text))
            end = max(start, len(text[:end].rstrip("\n")))  # the blank line before the next heading is not content
            sections.append(Section(start, end, heading, level))
        pages = tuple(self.page_ranges) if self.page_ranges else None
        return Document(name, text, sha256, tuple(sections), pages, kind, code=tuple(sorted(self.code_spans)))


class TitleLevels:
    """Heading levels such that the document's title alone is level 1. Given a document's top heading
    count (its <h1>s or Title/Heading 1 paragraphs): with several, the first is the title and every
    later heading goes one level down (h1 -> 2, h2 -> 3); with one or none, levels stay as written."""

    def __init__(self, top_count: int):
        self.shift, self.titled = int(top_count > 1), False

    def __call__(self, n: int) -> int:
        if n == 1 and not self.titled:
            self.titled = True
            return 1
        return min(6, n + self.shift)
