"""Word (.docx) reader on python-docx: body paragraphs and tables in order, Title/Heading styles as sections."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from . import furniture as F
from .code_blocks import code_style, mono_font
from .document import Builder, Document, TitleLevels, Unreadable, Warn, guarded, plain_only
from .plain import read_docx_plain

# Word's built-in heading styles, by name or by style id (the id stays English in translated Word).
_HEADING = re.compile(r"^heading\s*([1-9])$", re.I)
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an OLE container: a password-protected .docx or an old .doc
# Zip bombs: python-docx loads every part into memory and parses the XML ones whole, so what the
# archive declares it unpacks to is bounded before it is opened. zipfile never unpacks a member past
# its declared size (it stops there and the CRC check fails), so the declared sizes bound the actual.
MAX_UNPACKED = 256 << 20  # all parts together
MAX_RATIO = 100  # unpacked/packed for a part over RATIO_FROM (Word's XML packs 5-20x; zeros 1000x)
RATIO_FROM = 1 << 20


def read_docx(path: Path, name: str, warn: Warn) -> Document | None:
    """The body's paragraphs and tables (headers and footers are not body), Title and Heading n as sections."""
    return guarded("docx", _extract, path, name, warn, plain=read_docx_plain)


def read_docx_plain_only(path: Path, name: str, warn: Warn, why: str) -> Document | None:
    """The body paragraphs alone, for a file whose layout read was stopped (`why`)."""
    return plain_only("docx", read_docx_plain)(path, name, warn, why)


def _extract(data: bytes, builder: Builder) -> None:
    import docx
    from docx.table import Table

    if data[:8] == _OLE:
        raise Unreadable("is encrypted or an old binary .doc (qa reads .docx)", "encrypted or .doc")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise Unreadable("not a readable .docx (not a zip archive: truncated, or not a Word file)", "not a DOCX")
    _check_sizes(data)
    # Where python-docx cannot open the package (a damaged part, a missing relationship), its error
    # goes on to guarded: the plain path may still read word/document.xml, and says why if not.
    document = docx.Document(io.BytesIO(data))
    blocks = list(document.iter_inner_content())
    known: dict[str, int | None] = {}  # python-docx looks styles up slowly: once a style per file
    styles = [None if isinstance(b, Table) else _style_level(b, known) for b in blocks]
    meta = F.squash(document.core_properties.title or "")
    if 0 in styles or meta:  # a Title paragraph (or the file's title property) is level 1, Heading n is n + 1
        if 0 not in styles:
            builder.heading(meta, 1)

        def level_of(n):
            return n + 1
    else:  # no Title: the first Heading 1 is the title, as the first <h1> of a web page
        level_of = TitleLevels(styles.count(1))
    items: list[str] = []  # consecutive list paragraphs, one line each, become one paragraph
    code: list[str] = []  # and consecutive code paragraphs (a line each in most writers) one code block
    code_styles: dict[str, bool] = {}
    panel = False  # under a heading of a site's side panel ("Previous topic"): its text is navigation
    contents = False  # after a plain "Contents" paragraph: the list that follows it is a page's contents
    for block, style in zip(blocks, styles):
        if style is not None:
            panel = F.navigation_heading(block.text)
        contents = contents and not isinstance(block, Table) and _is_list(block)
        if panel or contents:
            continue
        if style is None and not isinstance(block, Table) and F.navigation_heading(block.text):
            contents = True
            continue
        if not isinstance(block, Table) and style is None and _is_code(block, code_styles):
            _flush(items, builder)
            lines = [line.rstrip() for line in block.text.split("\n") if line.strip()]
            code.extend(lines)
            continue
        _flush(code, builder, code=True)
        if isinstance(block, Table):
            _flush(items, builder)
            _table(block, builder)
            continue
        text = "\n".join(F.squash(line) for line in F.without_pilcrows(block.text).split("\n") if line.strip())
        if style is not None:
            _flush(items, builder)
            builder.heading(F.without_marks(text), level_of(style))
        elif _is_list(block):
            if text:
                items.append(text)
        else:
            _flush(items, builder)
            builder.paragraph(text)
    _flush(code, builder, code=True)
    _flush(items, builder)


def _check_sizes(data: bytes) -> None:
    """Unreadable when the archive declares more than qa unpacks (a zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise Unreadable(f"not a readable .docx ({type(exc).__name__}: {exc})", "not a DOCX") from None
    total = sum(p.file_size for p in parts)
    if total > MAX_UNPACKED:
        raise Unreadable(f"unpacks to {total >> 20:,} MB (qa unpacks at most {MAX_UNPACKED >> 20} MB: a zip bomb?)",
                         "zip bomb")
    for part in parts:
        if part.file_size > RATIO_FROM and part.file_size > MAX_RATIO * max(part.compress_size, 1):
            raise Unreadable(f"{part.filename} unpacks to {part.file_size // max(part.compress_size, 1):,} times its "
                             f"packed size (qa unpacks at most {MAX_RATIO} times: a zip bomb?)", "zip bomb")


def _style_level(paragraph, known: dict[str, int | None]) -> int | None:
    """0 for the Title style, n for Heading n, None for the rest, following a custom style back to the
    built-in one it is based on."""
    pPr = paragraph._p.pPr
    key = pPr.pStyle.val if pPr is not None and pPr.pStyle is not None else ""
    if key not in known:
        known[key] = _level_of_style(paragraph.style)
    return known[key]


def _level_of_style(style) -> int | None:
    while style is not None:
        for name in (style.name or "", style.style_id or ""):
            if name.lower() == "title":
                return 0
            m = _HEADING.match(name)
            if m:
                return int(m.group(1))
        style = style.base_style
    return None


def _is_list(paragraph) -> bool:
    # Bullets and numbering: a "List ..." style, or numbering set on the paragraph itself.
    name = (paragraph.style.name or "") if paragraph.style is not None else ""
    return name.lower().startswith("list") or paragraph._p.pPr is not None and paragraph._p.pPr.numPr is not None


def _flush(items: list[str], builder: Builder, code: bool = False) -> None:
    if items:
        builder.paragraph("\n".join(items), code=code)
        items.clear()


def _is_code(paragraph, known: dict[str, bool]) -> bool:
    """A paragraph of code: set in a code style (or one based on it), or every run of it in a
    fixed-pitch font."""
    pPr = paragraph._p.pPr
    key = pPr.pStyle.val if pPr is not None and pPr.pStyle is not None else ""
    if key not in known:
        names, style = [], paragraph.style
        while style is not None:
            names += [style.name or "", style.style_id or ""]
            style = style.base_style
        known[key] = code_style(names)
    if known[key]:
        return True
    runs = [run for run in paragraph.runs if run.text.strip()]
    return bool(runs) and all(mono_font(run.font.name) for run in runs)


def _table(table, builder: Builder) -> None:
    """Rows as lines, cells joined by " | "; a merged cell, which python-docx repeats for every grid
    column it spans, is written once."""
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(F.squash(cell.text))
        if any(cells):
            rows.append(" | ".join(cells))
    builder.paragraph("\n".join(rows))
