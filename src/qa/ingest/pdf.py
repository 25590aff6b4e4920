"""PDF reader on pypdfium2: text page by page, furniture dropped, paragraphs, outline or font headings."""

from __future__ import annotations

import ctypes
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from . import furniture as F
from .document import Builder, Document, Unreadable, Warn, guarded

BAND = 0.12  # running headers and footers live in the top and bottom 12% of a page
HEADING_SCALE = 1.15  # a line set this much larger than the body text is a heading
PARAGRAPH_GAP = 1.5  # baselines further apart than this many font sizes start a new paragraph
ROW_GAP = 2.4  # table rows are set further apart than prose lines, but not this far
CELL_GAP = 1.2  # a horizontal gap of this many font sizes inside a short line separates table cells
ROW_MAX_CHARS = 80
_LINE = re.compile(r"[^\r\n]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class _Line:
    text: str
    top: float  # points from the page's bottom edge
    height: float  # the page's height in points
    size: float
    bold: bool
    row: bool  # a table row: cells set apart by wide gaps, already joined by " | "


def read_pdf(path: Path, name: str, warn: Warn) -> Document | None:
    """The PDF's text with its outline (or numbered/large-type headings) as sections and every page's range."""
    return guarded("pdf", _extract, path, name, warn)


def _extract(path: Path, builder: Builder) -> None:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(Path(path))
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise Unreadable("is encrypted (needs a password)") from None
        raise Unreadable(f"not a readable PDF ({exc})") from None
    try:
        outline = _outline(pdf)
        pages = []
        for index in range(len(pdf)):
            # One page and its text page at a time, closed at once: memory stays flat on long files.
            page = pdf.get_page(index)
            try:
                textpage = page.get_textpage()
                try:
                    pages.append(_lines(textpage, page.get_height()))
                finally:
                    textpage.close()
            finally:
                page.close()
    finally:
        pdf.close()
    if not any(pages):
        raise Unreadable("has no text layer (scanned?); qa does not OCR")
    _layout(_drop_furniture(pages), outline, builder)


def _outline(pdf) -> list[tuple[int, str, int]]:
    """The bookmarks as (depth, title, page index), depth 0 = top level; those without a page are left out."""
    entries = []
    for mark in pdf.get_toc():
        dest = mark.get_dest()
        page = dest.get_index() if dest is not None else None
        title = F.squash(mark.get_title())
        if page is not None and title:
            entries.append((mark.level, title, page))
    return entries


def _lines(textpage, height: float) -> list[_Line]:
    import pypdfium2.raw as raw

    text = textpage.get_text_range()
    lines = []
    for m in _LINE.finditer(text):
        line = m.group(0)
        lead = len(line) - len(line.lstrip())
        line = line.strip()
        first = raw.FPDFText_GetCharIndexFromTextIndex(textpage, m.start() + lead)
        if not line or first < 0:
            continue
        size = raw.FPDFText_GetFontSize(textpage, first) or 10.0
        top = textpage.get_charbox(first, loose=True)[3]
        row = False
        if len(line) <= ROW_MAX_CHARS:
            line, row = _cells(textpage, line, m.start() + lead, size)
        line = _CONTROL.sub("", line)
        if line:
            lines.append(_Line(line, top, height, size, _bold(textpage, first), row))
    return lines


def _bold(textpage, index: int) -> bool:
    # pdfium reports a weight for few fonts (0 for the standard 14), so the font's name decides too.
    import pypdfium2.raw as raw

    if raw.FPDFText_GetFontWeight(textpage, index) >= 600:
        return True
    buffer = ctypes.create_string_buffer(128)
    flags = ctypes.c_int()
    raw.FPDFText_GetFontInfo(textpage, index, buffer, 128, ctypes.byref(flags))
    name = buffer.value.decode("latin-1").lower()
    return any(w in name for w in ("bold", "black", "heavy", "semibold"))


def _cells(textpage, line: str, offset: int, size: float) -> tuple[str, bool]:
    """The line with " | " where a space spans a wide horizontal gap (between table cells); only the
    characters on either side of each space are measured, not every character."""
    import pypdfium2.raw as raw

    out, gaps = [], 0
    for i, ch in enumerate(line):
        if ch == " " and 0 < i < len(line) - 1 and line[i - 1] != " ":
            before = raw.FPDFText_GetCharIndexFromTextIndex(textpage, offset + i - 1)
            after = raw.FPDFText_GetCharIndexFromTextIndex(textpage, offset + i + 1)
            if before >= 0 and after >= 0:
                gap = textpage.get_charbox(after)[0] - textpage.get_charbox(before)[2]
                if gap > CELL_GAP * size:
                    out.append(" | ")
                    gaps += 1
                    continue
        out.append(ch)
    return "".join(out), gaps > 0


def _drop_furniture(pages: list[list[_Line]]) -> list[list[_Line]]:
    """Leave out lines in the top or bottom band that repeat at the same height on most pages
    (running headers and footers), and page-number lines there."""

    def key(line: _Line):
        share = line.top / line.height
        if BAND < share < 1 - BAND + 0.04:  # +0.04: a header's top edge sits above its baseline
            return None
        return F.furniture_key(line.text), round(share * 100)

    running = F.repeated([{key(ln) for ln in page} - {None} for page in pages])
    return [
        [ln for ln in page if key(ln) is None or (key(ln) not in running and not F.PAGE_NUMBER.match(ln.text))]
        for page in pages
    ]


def _blocks(lines: list[_Line]) -> list[list[_Line]]:
    """Lines grouped into paragraphs: a change of type size or weight, a wider baseline gap, a jump up
    the page (the next column) or a change between prose and table rows starts a new paragraph."""
    blocks: list[list[_Line]] = []
    for line in lines:
        prev = blocks[-1][-1] if blocks else None
        if prev is None or _breaks(prev, line):
            blocks.append([line])
        else:
            blocks[-1].append(line)
    return blocks


def _breaks(prev: _Line, line: _Line) -> bool:
    if prev.row != line.row or abs(prev.size - line.size) > 0.5 or prev.bold != line.bold:
        return True
    drop = (prev.top - line.top) / max(prev.size, line.size)
    if drop < 0:  # back up the page: a new column; a sentence cut by the column break carries on
        return not F.continues(prev.text, line.text)
    return drop > (ROW_GAP if line.row else PARAGRAPH_GAP)



def _block_text(block: list[_Line], known: set[str]) -> str:
    if block[0].row:
        return "\n".join(ln.text for ln in block)
    return F.join_hyphens("\n".join(ln.text for ln in block), known).replace("\n", " ")


def _layout(pages: list[list[_Line]], outline, builder: Builder) -> None:
    known = F.compounds(" ".join(ln.text for page in pages for ln in page))
    sizes = Counter()
    for page in pages:
        for ln in page:
            sizes[round(ln.size, 1)] += len(ln.text)
    body = sizes.most_common(1)[0][0]
    heads = []  # (offset, text, size, page index)
    starts_by_page: list[list[tuple[int, str]]] = []
    last = None
    for index, lines in enumerate(pages):
        builder.new_page()
        starts = []
        for block in _blocks(lines):
            text = _block_text(block, known)
            first = block[0]
            heading = len(block) == 1 and not first.row and F.heading_like(text) and (
                first.size >= body * HEADING_SCALE or first.bold or F.numbered_level(text) is not None
            )
            # A prose paragraph cut by the page break goes on after one line break, not a blank line.
            joined = not starts and last is not None and not heading and F.continues(last, text)
            start = builder.paragraph(text, continues=joined)
            starts.append((start, text))
            if heading:
                heads.append((start, text, first.size, index))
            last = None if heading or first.row else text
        builder.end_page()
        starts_by_page.append(starts)
    if outline:
        _outline_sections(outline, heads, starts_by_page, builder)
    else:
        _font_sections(heads, builder)


def _title(heads) -> tuple[int, str] | None:
    """The document's title: the largest heading on the first page that has any."""
    if not heads:
        return None
    page = heads[0][3]
    first_page = [h for h in heads if h[3] == page]
    top = max(h[2] for h in first_page)
    start, text, _, _ = next(h for h in first_page if h[2] == top)
    return start, text


def _font_sections(heads, builder: Builder) -> None:
    """Sections from the headings the type shows: numbered ones by their number's depth, the
    others by size rank below the title."""
    title = _title(heads)
    if title:
        builder.mark(title[0], title[1], 1)
    ranks = sorted({h[2] for h in heads if title is None or h[0] != title[0]}, reverse=True)
    for start, text, size, _ in heads:
        if title and start == title[0]:
            continue
        level = F.numbered_level(text) or min(6, 2 + ranks.index(size))
        builder.mark(start, text, level)


def _outline_sections(outline, heads, starts_by_page, builder: Builder) -> None:
    """Sections from the bookmarks, each placed at the paragraph on its page that reads the same
    (or at the page's start). A lone top-level bookmark is the title; otherwise the type finds it."""
    tops = [entry for entry in outline if entry[0] == 0]
    shift = 1
    if len(tops) != 1:
        shift = 2
        title = _title(heads)
        if title:
            builder.mark(title[0], title[1], 1)
    for depth, title_text, page in outline:
        if page >= len(starts_by_page):
            continue
        wanted = title_text.casefold()
        starts = starts_by_page[page]
        start = next((s for s, t in starts if F.squash(t).casefold() == wanted), None)
        if start is None:
            start = next((s for s, t in starts if F.squash(t).casefold().startswith(wanted)), None)
        if start is None:
            start = builder.page_ranges[page][0]
        builder.mark(start, title_text, min(6, depth + shift))
