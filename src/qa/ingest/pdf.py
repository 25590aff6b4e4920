"""PDF reader on pypdfium2: text page by page, furniture dropped, paragraphs, outline or font headings."""

from __future__ import annotations

import ctypes
import re
import time
from collections import Counter
from pathlib import Path

from . import furniture as F
from .code_blocks import code_runs
from .document import Builder, Document, Warn, failure, guarded, plain_only
from .pdf_pages import check_pages, close_page, open_document, open_page, plain_text, read_plain
from .pdf_paragraphs import Line, block_text, blocks, leading, page_hyphens
from .pdf_sections import HEADING_SCALE, font_sections, outline_sections, under_first
from .pdf_spacing import justified, scaled
from .pdf_words import Words, font, respace

BAND = 0.12  # running headers and footers live in the top and bottom 12% of a page
CELL_GAP = 1.2  # a horizontal gap of this many font sizes inside a short line separates table cells
ROW_MAX_CHARS = 80
CONTENTS_SHARE = 0.8  # a paragraph this much made of the document's headings is its table of contents
KEEP_OPEN = 16  # pages held open between the reader's two passes (a short manual's; the others are loaded twice)
# Pages whose lines are not made out this long after the file was opened are read as plain text: a
# pathological file keeps its text and stays within read_isolated's budget.
LAYOUT_SECONDS = 60.0
SIZE_SAMPLES = 7  # characters sampled along a line for its type size
_LINE = re.compile(r"[^\r\n]+")
_FOLIO = re.compile(r"^(\d{1,4})\s|\s(\d{1,4})$")  # a page number opening or closing a header line
# A table of contents' or an index's entry: dot leaders up to a page number ("2.4 Library Notes . . . 3").
_LEADER = re.compile(r"(?:\.\s?){5,}\s*(?:\d+|[ivxlc]+)$", re.I)
# The category texinfo sets flush right on a definition's first line ("int f (int x) [Function]").
_DEFINITION_TAG = re.compile(r" \| \[[A-Z][A-Za-z]*(?: [A-Za-z]+)?\]$")
_CONTENTS = ("contents", "table of contents")
# (TeX's typewriter fonts: cmtt, cm-super's sftt, EC's ectt, txfonts' txtt, URW's Courier clone NimbusMonL.)
_MONO_NAMES = ("mono", "courier", "cmtt", "sftt", "ectt", "txtt", "nimbusmon", "typewriter", "consol", "menlo", "code")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def read_pdf_plain_only(path: Path, name: str, warn: Warn, why: str) -> Document | None:
    """pdfium's text page by page alone, for a file whose layout read was stopped (`why`)."""
    return plain_only("pdf", read_plain)(path, name, warn, why)


def read_pdf(path: Path, name: str, warn: Warn) -> Document | None:
    """The PDF's text with its outline (or numbered/large-type headings) as sections and every page's range;
    a page whose layout rules fail is read as plain text (the whole file, where the document's do)."""
    return guarded("pdf", _extract, path, name, warn, plain=read_plain)


def _extract(data: bytes, builder: Builder) -> None:
    pdf = open_document(data)
    give_up = time.monotonic() + LAYOUT_SECONDS
    opened = {}
    try:
        outline = _outline(pdf)
        named = _metadata_title(pdf)
        # Two passes: the first counts the document's words in pdfium's text, which decide the word
        # spaces its geometry cannot (pdf_words); the second reads each page. Pages past the first
        # KEEP_OPEN are closed between the passes and loaded again: memory stays flat on long files.
        texts = []
        for index in range(len(pdf)):
            loaded = open_page(pdf, index)
            texts.append(None if loaded is None else loaded[2])
            if loaded is not None and index < KEEP_OPEN:
                opened[index] = loaded
            elif loaded is not None:
                close_page(loaded)
        words = Words([t for t in texts if t is not None], keep=KEEP_OPEN)
        pages = []
        damaged = []
        for index, text in enumerate(texts):
            loaded = opened.pop(index, None) or (None if text is None else open_page(pdf, index))
            if loaded is None:
                damaged.append(index + 1)
                pages.append([])  # kept as an empty page, so that page numbers stay right
                continue
            try:
                if time.monotonic() > give_up:  # the rest is read as plain text, within the file's time budget
                    builder.plain_page(index + 1, f"past the layout's {LAYOUT_SECONDS:.0f} s")
                    pages.append([])
                else:
                    pages.append(_lines(loaded[1], loaded[2], loaded[0].get_height(), words))
            except Exception as exc:  # this page's layout rules failed: it is read as plain text
                builder.plain_page(index + 1, failure(exc))
                pages.append([])
            finally:
                close_page(loaded)
    finally:
        for loaded in opened.values():
            close_page(loaded)
        pdf.close()
    check_pages(damaged, len(pages), any(pages) or any(plain_text(texts[p - 1]) for p in builder.plain_failures),
                 builder)
    _layout(_drop_furniture(pages), outline, builder, named, texts)


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


def _lines(textpage, text: str, height: float, words: Words) -> list[Line]:
    import pypdfium2.raw as raw

    edits = words.edits(textpage, text)
    text, old = respace(text, edits)
    index = raw.FPDFText_GetCharIndexFromTextIndex

    def char(k: int) -> int:
        """The char index of the respaced text's offset k (-1 for a space put in)."""
        o = old(k)
        return -1 if o < 0 else index(textpage, o)

    if not edits:
        def char(k: int) -> int:  # noqa: F811 (the text is pdfium's: no offset to map)
            return index(textpage, k)

    lines = []
    for at, line in _physical_lines(textpage, text, char):
        lead = len(line) - len(line.lstrip())
        line = line.strip()
        # Weight is read off the first letter or digit: a bullet is often set in another font.
        alnum = next((i for i, ch in enumerate(line) if ch.isalnum()), 0)
        first = char(at + lead + alnum)
        if not line or first < 0:
            continue
        # Three samples (first letter, middle, end) tell whether the line is set in a fixed-pitch font;
        # its size is the middle one of SIZE_SAMPLES spread along it, so that a bullet or a few code
        # words in a smaller font ("by specifying --suppressions=file one or") do not decide it.
        samples = [first] + [
            i for i in (char(at + lead + k)
                        for k in (len(line) // 2, len(line) - 1)) if i >= 0
        ]
        # (Spaces are not sampled: pdfium gives the ones it makes up a size of 1.)
        spread = [first] + [
            i for i in (char(at + lead + k)
                        for k in _letters_along(line, SIZE_SAMPLES - 1)) if i >= 0
        ]
        sized = sorted((raw.FPDFText_GetFontSize(textpage, i), i) for i in spread)
        size, probe = sized[len(sized) // 2]
        size = scaled(textpage, probe, size) or 10.0
        top = textpage.get_charbox(probe, loose=True)[3]
        last = char(at + lead + len(line) - 1)
        opening = char(at + lead)
        left = textpage.get_charbox(opening if opening >= 0 else first)[0]
        base = _baseline(textpage, first)
        last_base = _baseline(textpage, last) if last >= 0 else base
        mono = all(_mono(textpage, i) for i in samples)
        row, hang = False, None
        if len(line) <= ROW_MAX_CHARS and not mono:  # code aligns with spaces: they are not cell gaps
            line, row, hang = _cells(textpage, line, at + lead, size, char)
        line = F.plain(_CONTROL.sub("", line))
        if line:
            # Bold only when the whole line is: a bold word opening a line is emphasis, not a heading.
            bold = _bold(textpage, first) and (last < 0 or _bold(textpage, last))
            lines.append(Line(line, top, height, size, bold, row, left, base, last_base, hang, mono=mono))
    return lines


def _letters_along(line: str, n: int) -> list[int]:
    """The offsets of `n` characters spread evenly along the line, each moved on past white space."""
    out = []
    for k in range(1, n + 1):
        at = k * (len(line) - 1) // n
        while at < len(line) - 1 and line[at].isspace():
            at += 1
        out.append(at)
    return out


def _physical_lines(textpage, text: str, char):
    """The page's text lines as (offset, text). pdfium runs a line that ends in a hyphen it saw (U+FFFE)
    into the next one, which may be a running footer: such a line is cut after each hyphen where the
    next character sits on another baseline."""
    import pypdfium2.raw as raw

    for m in _LINE.finditer(text):
        start, line = m.start(), m.group(0)
        if "\ufffe" not in line:
            yield start, line
            continue
        a = 0
        for k, ch in enumerate(line[:-1]):
            if ch != "\ufffe":
                continue
            here = char(start + k)
            after = char(start + k + 1)
            if here >= 0 and after >= 0 and abs(_baseline(textpage, here) - _baseline(textpage, after)) > 1:
                yield start + a, line[a:k + 1]
                a = k + 1
        yield start + a, line[a:]


def _baseline(textpage, index: int) -> float:
    import pypdfium2.raw as raw

    x, y = ctypes.c_double(), ctypes.c_double()
    raw.FPDFText_GetCharOrigin(textpage, index, ctypes.byref(x), ctypes.byref(y))
    return y.value


def _mono(textpage, index: int) -> bool:
    # The font's FixedPitch flag (bit 1), which TeX's fonts leave unset, or a typewriter font's name.
    name, flags = font(textpage, index)
    return bool(flags & 1) or any(w in name for w in _MONO_NAMES)


def _bold(textpage, index: int) -> bool:
    # pdfium reports a weight for few fonts (0 for the standard 14), so the font's name decides too.
    import pypdfium2.raw as raw

    if raw.FPDFText_GetFontWeight(textpage, index) >= 600:
        return True
    name = font(textpage, index)[0]
    return any(w in name for w in ("bold", "black", "heavy", "semibold"))


def _cells(textpage, line: str, offset: int, size: float, char) -> tuple[str, bool, float | None]:
    """The line with " | " where a space spans a wide horizontal gap (between table cells), and where
    its last cell starts; only the characters on either side of each space are measured, not every
    character."""
    import pypdfium2.raw as raw

    out, gaps, hang, widths = [], 0, None, []
    for i, ch in enumerate(line):
        # Only spaces pdfium made up itself can span a gap: one typed in the text is a word space.
        if ch == " " and 0 < i < len(line) - 1 and line[i - 1] != " " and _generated(textpage, char(offset + i)):
            before = char(offset + i - 1)
            after = char(offset + i + 1)
            if before >= 0 and after >= 0:
                gap = textpage.get_charbox(after)[0] - textpage.get_charbox(before)[2]
                widths.append((gap, line[i - 1] in ".,;:!?"))
                if gap > CELL_GAP * size:
                    out.append(" | ")
                    gaps += 1
                    hang = textpage.get_charbox(after)[0]
                    continue
        out.append(ch)
    if gaps and justified(widths):
        return line, False, None
    text = "".join(out)
    if gaps == 1 and _DEFINITION_TAG.search(text):
        # Texinfo's definition header: the definition, then its category flush right ("[Function]"),
        # a label for the eye and not a table's cell; the definition reads on into the next line.
        return _DEFINITION_TAG.sub("", text), False, None
    return text, gaps > 0, hang


def _generated(textpage, index: int) -> bool:
    import pypdfium2.raw as raw

    return index < 0 or raw.FPDFText_IsGenerated(textpage, index) != 0


def _drop_furniture(pages: list[list[Line]]) -> list[list[Line]]:
    """Leave out lines in the top or bottom band that repeat at the same height on most pages
    (running headers and footers), page-number lines there, and the entries of a table of contents
    or an index (a pointer to a page, not text to answer from)."""

    sizes = Counter(round(ln.size, 1) for page in pages for ln in page)
    body = sizes.most_common(1)[0][0] if sizes else 0

    def key(line: Line):
        share = line.top / line.height
        if BAND < share < 1 - BAND + 0.04:  # +0.04: a header's top edge sits above its baseline
            return None
        if line.size >= body * HEADING_SCALE:  # running heads are not set large; "Chapter 7" at the top is a heading
            return None
        return F.furniture_key(line.text), round(share * 100)

    running = F.repeated([{key(ln) for ln in page} - {None} for page in pages])
    offset = _folio_offset(pages, key)

    def furniture(index: int, line: Line) -> bool:
        if _LEADER.search(line.text):
            return True
        if key(line) is None:
            return False
        if key(line) in running or F.PAGE_NUMBER.match(line.text):
            return True
        # "Chapter 2: Structures 3": a running head that changes with the chapter but carries the folio.
        return offset is not None and _folio(line.text) == index + offset

    return [[ln for ln in page if not furniture(i, ln)] for i, page in enumerate(pages)]


def _folio(text: str) -> int | None:
    m = _FOLIO.search(text)
    return None if m is None else int(m.group(1) or m.group(2))


def _folio_offset(pages: list[list[Line]], key) -> int | None:
    """The printed page number minus the page's index, when the band lines of most pages agree on one
    (books number from after their front matter, so the folio and the index differ by a constant)."""
    offsets = Counter()
    for index, page in enumerate(pages):
        found = {_folio(ln.text) - index for ln in page if key(ln) is not None and _folio(ln.text) is not None}
        offsets.update(found)
    if not offsets:
        return None
    offset, n = offsets.most_common(1)[0]
    return offset if n >= max(2, 0.3 * len(pages)) else None


def _layout(pages: list[list[Line]], outline, builder: Builder, named: str = "",
            texts: list[str | None] | None = None) -> None:
    """The pages' paragraphs and sections into the builder; a page whose layout rules failed (in the
    builder's plain_failures) is its pdfium text (`texts`, by page index) as one paragraph."""
    known = F.compounds(" ".join(ln.text for page in pages for ln in page))
    keep = F.keeps_hyphens("\n".join(ln.text for page in pages for ln in page), known)
    sizes = Counter()
    for page in pages:
        for ln in page:
            sizes[round(ln.size, 1)] += len(ln.text)
    if not sizes and not builder.plain_failures:
        return  # nothing but furniture: the builder stays empty and the file is skipped as having no text
    body = sizes.most_common(1)[0][0] if sizes else 0
    spacing = leading(pages)
    heads = []  # (offset, text, size, page index)
    starts_by_page: list[list[tuple[int, str]]] = []
    last = None
    laid_out = []
    for index, lines in enumerate(pages):
        try:
            laid_out.append([(block, block_text(block, known, keep)) for block in blocks(lines, spacing)])
        except Exception as exc:  # this page's paragraph rules failed: it is read as plain text
            builder.plain_page(index + 1, failure(exc))
            laid_out.append([])
    paragraphs = _without_contents(laid_out)
    glued = page_hyphens(paragraphs, known, keep)
    for index, page in enumerate(paragraphs):
        builder.new_page()
        starts = []
        if index + 1 in builder.plain_failures:
            builder.paragraph(plain_text((texts or [])[index] or ""))
            last = None
        for k, (block, text) in enumerate(page):
            first = block[0]
            after = page[k + 1][0][0] if k + 1 < len(page) else None
            heading = len(block) == 1 and not first.row and F.heading_like(text) and (
                first.size >= body * HEADING_SCALE or first.bold or F.numbered_level(text) is not None
            ) and not _set_in_code(first, after)
            # A prose paragraph cut by the page break goes on after one line break, not a blank line;
            # one that carries on a word hyphenated there, with nothing between.
            joined = not starts and last is not None and not heading and F.continues(last, text)
            start = builder.paragraph(text, continues=joined, glued=joined and index in glued)
            lead = len(text) - len(text.lstrip())  # the builder strips what it is given
            for a, b in code_runs(text, [(ln.text, ln.code) for ln in block]):  # a code example: code
                builder.code(start + a - lead, start + b - lead)
            starts.append((start, text))
            if heading:
                heads.append((start, text, first.size, index))
            last = None if heading or first.row else text
        builder.end_page()
        starts_by_page.append(starts)
    if not (outline and outline_sections(outline, heads, starts_by_page, builder, body)):
        font_sections(heads, builder, under_first(heads, starts_by_page), named)


def _metadata_title(pdf) -> str:
    """The title the file's metadata gives (its Info dictionary's /Title), "" when none."""
    try:
        return F.squash(_CONTROL.sub(" ", pdf.get_metadata_dict().get("Title") or ""))
    except Exception:  # metadata is optional; a broken Info dictionary must not cost the text
        return ""


def _without_contents(paragraphs: list[list[tuple[list[Line], str]]]) -> list[list[tuple[list[Line], str]]]:
    """The pages without their table of contents: a title "Contents" or "Table of Contents", and a
    paragraph of three lines or more that nearly all repeat a one-line paragraph found elsewhere
    in the document (its headings; a printed web page's contents has no dot leaders to tell it by)."""
    lines = Counter(F.squash(text) for page in paragraphs for block, text in page if len(block) == 1)

    def contents(block: list[Line], text: str) -> bool:
        if F.squash(text).casefold() in _CONTENTS:
            return True
        return len(block) >= 3 and sum(F.squash(ln.text) in lines for ln in block) >= CONTENTS_SHARE * len(block)

    return [[(block, text) for block, text in page if not contents(block, text)] for page in paragraphs]


def _set_in_code(line: Line, after: Line | None) -> bool:
    """A line of code set in from the text after it (a one-line example in its box, "valgrind
    --tool=memcheck ls -l"), not a heading, however bold: a term that heads its text sits at or left
    of it (a definition's term, "--log-file=<filename>", over its indented description)."""
    return line.mono and after is not None and line.left > after.left + 2 and line.size < after.size + 0.5
