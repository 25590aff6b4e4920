"""PDF pages through pypdfium2: opening the file and its pages, and the plain path (each page's text
as pdfium gives it, no layout rules) for a document whose layout analysis failed."""

from __future__ import annotations

import re

from . import furniture as F
from .document import Builder, Unreadable

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def open_document(data: bytes):
    """The PDF of these bytes, opened, or Unreadable saying why not (encrypted, not a PDF)."""
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise Unreadable("is encrypted (needs a password)", "encrypted") from None
        raise Unreadable(f"not a readable PDF ({exc})", "not a PDF") from None


def check_pages(damaged: list[int], count: int, text: bool, builder: Builder) -> None:
    """Unreadable when no page could be loaded or none has text; a note naming the damaged pages."""
    if damaged and len(damaged) == count:
        raise Unreadable("not a readable PDF (no page could be loaded)", "not a PDF")
    if not text:
        raise Unreadable("has no text layer (scanned?); qa does not OCR", "no text layer")
    if damaged:
        shown = ", ".join(map(str, damaged[:10])) + (", ..." if len(damaged) > 10 else "")
        word = "page" if len(damaged) == 1 else "pages"
        builder.note(f"{word} {shown} of {count} could not be loaded (damaged?); the other pages are read")


def read_plain(data: bytes, builder: Builder) -> None:
    """The plain path: pdfium's text of each page as one paragraph, pages kept, no layout rules."""
    pdf = open_document(data)
    damaged, text = [], False
    try:
        for index in range(len(pdf)):
            loaded = open_page(pdf, index)
            builder.new_page()
            if loaded is None:
                damaged.append(index + 1)
            else:
                close_page(loaded)
                page = plain_text(loaded[2])
                text = text or bool(page)
                builder.paragraph(page)
            builder.end_page()
        count = len(pdf)
    finally:
        pdf.close()
    check_pages(damaged, count, text, builder)


def plain_text(text: str) -> str:
    """pdfium's text of a page as one paragraph: words it saw hyphenated joined as the layout path
    joins them, line ends made spaces, control characters dropped."""
    text = F.join_hyphens(text.replace("\r\n", "\n"), F.compounds(text))
    return F.plain(_CONTROL.sub("", F.squash(text)))


def open_page(pdf, index: int):
    """(page, text page, text), or None when the page cannot be loaded."""
    import pypdfium2 as pdfium

    try:
        page = pdf.get_page(index)
    except pdfium.PdfiumError:
        return None
    try:
        textpage = page.get_textpage()
        return page, textpage, textpage.get_text_range()
    except pdfium.PdfiumError:
        page.close()
        return None


def close_page(loaded) -> None:
    loaded[1].close()
    loaded[0].close()
