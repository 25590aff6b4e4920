"""Word (.docx) reader on python-docx: body paragraphs and tables in order, Title/Heading styles as sections."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from . import furniture as F
from .document import Builder, Document, TitleLevels, Unreadable, Warn, guarded
from .plain import read_docx_plain

# Word's built-in heading styles, by name or by style id (the id stays English in translated Word).
_HEADING = re.compile(r"^heading\s*([1-9])$", re.I)
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an OLE container: a password-protected .docx or an old .doc


def read_docx(path: Path, name: str, warn: Warn) -> Document | None:
    """The body's paragraphs and tables (headers and footers are not body), Title and Heading n as sections."""
    return guarded("docx", _extract, path, name, warn, plain=read_docx_plain)


def _extract(path: Path, builder: Builder) -> None:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    with open(path, "rb") as handle:
        if handle.read(8) == _OLE:
            raise Unreadable("is encrypted or an old binary .doc (qa reads .docx)", "encrypted or .doc")
    if not zipfile.is_zipfile(path):
        raise Unreadable("not a readable .docx (not a zip archive: truncated, or not a Word file)", "not a DOCX")
    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError) as exc:
        raise Unreadable(f"not a readable .docx ({type(exc).__name__}: {exc})", "not a DOCX") from None
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
    for block, style in zip(blocks, styles):
        if isinstance(block, Table):
            _flush(items, builder)
            _table(block, builder)
            continue
        text = "\n".join(F.squash(line) for line in block.text.split("\n") if line.strip())
        if style is not None:
            _flush(items, builder)
            builder.heading(text, level_of(style))
        elif _is_list(block):
            if text:
                items.append(text)
        else:
            _flush(items, builder)
            builder.paragraph(text)
    _flush(items, builder)


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


def _flush(items: list[str], builder: Builder) -> None:
    if items:
        builder.paragraph("\n".join(items))
        items.clear()


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
