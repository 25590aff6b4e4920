"""The Document every reader returns, and the builder that lays out its text, sections and pages."""

from __future__ import annotations

import hashlib
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .bounds import Changed, Unreadable, checked_sha256, read_checked


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
    plain: str = ""  # why some or all of it was read as plain text (its layout rules failed); "" = laid out
    plain_pages: tuple[int, ...] = ()  # the pages (1 = first) read as plain text; () with `plain`: all of it
    # (size, mtime_ns) of the file when the bytes `sha256` hashes were read; None when not read here
    read_stat: tuple[int, int] | None = field(default=None, compare=False)


class Skip(str):
    """A warning that a file was skipped ("skipped NAME: reason"), which a caller counting outcomes
    tells from the others by its type; `reason` and `short` as in Unreadable."""

    reason: str
    short: str

    def __new__(cls, name: str, reason: str, short: str = ""):
        said = super().__new__(cls, f"skipped {name}: {reason}")
        said.reason, said.short = reason, short or reason.split(" (")[0]
        return said

    def __reduce__(self):  # pickled as what it says (a Ray task's warnings travel so): __new__ takes the parts
        return _skip_again, (str(self), self.reason, self.short)


def _skip_again(said: str, reason: str, short: str) -> Skip:
    skip = str.__new__(Skip, said)
    skip.reason, skip.short = reason, short
    return skip


Warn = Callable[[str], None]


def file_sha256(path: Path) -> str:
    """The file's SHA-256; OSError for a file qa refuses to read (a FIFO, a device, a sparse file)."""
    return checked_sha256(path)


def guarded(kind: str, extract: Callable[[bytes, "Builder"], None], path: Path, name: str, warn: Warn,
            plain: Callable[[bytes, "Builder"], None] | None = None) -> Document | None:
    """Read the file's bytes once (bounds.read_checked) and run one reader's `extract` on them into a
    fresh Builder; any failure is one warning and None, never a raise (bounds.Changed excepted: the
    caller reads a file that changed under it again). A file read only in part (a damaged page) is
    returned, with one warning per note the reader made. Where the layout rules raise, `plain` (the
    reader's plain path: its text block by block) reads the document again, and the warning says
    which step failed; only what no path reads is skipped."""
    builder = Builder()
    try:
        data, info = read_checked(path, kind)
        try:
            extract(data, builder)
        except Unreadable:
            raise
        except Exception as exc:  # layout rules met a document they were not written for
            if plain is None:
                raise
            builder = Builder()  # what the layout path put in is dropped: the plain path reads it all
            builder.plain_document(f"layout rules failed ({failure(exc)})")
            plain(data, builder)
        if not builder.has_text():
            raise Unreadable("no text found", "no text")
        document = builder.document(name, hashlib.sha256(data).hexdigest(), kind, (info.st_size, info.st_mtime_ns))
        for note in builder.notes:  # read, but not all of it: said once each, after the name
            warn(f"{name}: {note}")
        return document
    except Changed:
        raise
    except Unreadable as exc:
        warn(Skip(name, str(exc), exc.short))
    except Exception as exc:  # a broken file can make a library raise anything; the index must go on
        said = failure(exc)
        if said.startswith("qa bug"):  # qa's own code failed: never worded as the file's fault
            warn(Skip(name, f"qa could not read it ({said})", "qa bug"))
        else:
            warn(Skip(name, f"cannot be read as {kind.upper()} ({type(exc).__name__}: {exc})", f"not a {kind.upper()}"))
    return None


def plain_only(kind: str, plain: Callable[[bytes, "Builder"], None]):
    """A reader of the plain path alone, `read(path, name, warn, why)`: for a file whose layout read
    was stopped (`why`: its time budget, its memory limit; see ingest.isolated)."""
    def read(path: Path, name: str, warn: Warn, why: str) -> Document | None:
        def extract(data: bytes, builder: Builder) -> None:
            builder.plain_document(why)
            plain(data, builder)

        return guarded(kind, extract, path, name, warn)
    return read


_QA = str(Path(__file__).resolve().parent.parent)  # src/qa: frames under it are qa's own code


def failure(exc: BaseException) -> str:
    """What failed, for a warning: "qa bug: ValueError in leading" when qa's own code raised, else the
    library that raised and the qa step that called it ("PdfiumError from pypdfium2 in _lines")."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f.filename.startswith(_QA) and not f.name.startswith("<")]  # not "<dictcomp>"
    step = ours[-1].name if ours else "?"
    if isinstance(exc, RecursionError) and ours:  # the function that recursed, not where the stack ran out
        step = Counter(f.name for f in ours).most_common(1)[0][0]
    if frames and frames[-1].filename.startswith(_QA):
        return f"qa bug: {type(exc).__name__} in {step}"
    where = frames[-1].filename if frames else ""
    library = where.split("site-packages/")[-1].split("/")[0] if "site-packages/" in where else Path(where).stem
    return f"{type(exc).__name__} from {library} in {step}"


def page_list(pages: list[int], most: int = 10) -> str:
    """"page 3", "pages 3, 9", "pages 1-311": runs as ranges, at most `most` of them."""
    runs: list[list[int]] = []
    for page in sorted(pages):
        if runs and page == runs[-1][1] + 1:
            runs[-1][1] = page
        else:
            runs.append([page, page])
    shown = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:most]) + (", ..." if len(runs) > most else "")
    return ("page " if len(pages) == 1 else "pages ") + shown


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
    plain_failures: dict[int, str] = field(default_factory=dict)  # page (1 = first) -> what failed there
    plain_whole: str = ""  # why the whole document was read as plain text

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

    def plain_page(self, page: int, failed: str) -> None:
        """Page `page` (1 = first) is read as plain text because its layout rules failed (`failed`)."""
        self.plain_failures[page] = failed

    def plain_document(self, why: str) -> None:
        """The whole document is read as plain text, for the reason `why` ("layout rules failed (...)")."""
        self.plain_whole = why

    def new_page(self) -> None:
        self.page_start = None

    def end_page(self) -> None:
        start = self.size if self.page_start is None else self.page_start
        self.page_ranges.append((start, self.size))
        self.page_start = None

    def has_text(self) -> bool:
        return self.size > 0

    def document(self, name: str, sha256: str, kind: str, read_stat: tuple[int, int] | None = None) -> Document:
        text = "".join(self.parts)
        heads = sorted(self.heads, key=lambda h: h[0])
        sections = []
        for i, (start, heading, level) in enumerate(heads):
            # A section runs to the next heading of its own level or above, so chapters hold their subsections.
            end = next((s for s, _, lv in heads[i + 1:] if lv <= level), len(text))
            end = max(start, len(text[:end].rstrip("\n")))  # the blank line before the next heading is not content
            sections.append(Section(start, end, heading, level))
        pages = tuple(self.page_ranges) if self.page_ranges else None
        plain, plain_pages = self._plain(len(pages or ()))
        if plain:
            self.notes.append(f"read as plain text: {plain}")
        return Document(name, text, sha256, tuple(sections), pages, kind, code=tuple(sorted(self.code_spans)),
                        plain=plain, plain_pages=plain_pages, read_stat=read_stat)

    def _plain(self, page_count: int) -> tuple[str, tuple[int, ...]]:
        """Why the document was read as plain text, in part or whole, and the pages that were."""
        if self.plain_whole:
            return self.plain_whole, tuple(range(1, page_count + 1))
        if not self.plain_failures:
            return "", ()
        by_failure: dict[str, list[int]] = {}
        for page, failed in sorted(self.plain_failures.items()):
            by_failure.setdefault(failed, []).append(page)
        said = "; ".join(f"{page_list(pages)} ({failed})" for failed, pages in by_failure.items())
        return f"layout rules failed on {said}", tuple(sorted(self.plain_failures))


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
