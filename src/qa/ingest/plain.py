"""The plain paths of the HTML and Word readers: text block by block without the layout rules, for a
document whose layout analysis failed (or an HTML page too deep to build a tree of)."""

from __future__ import annotations

import io
import zipfile
from html.parser import HTMLParser

from . import furniture as F
from .document import Builder, Unreadable

# Tags whose start or end closes a block of text; the rest (a, b, span, ...) are inline.
_BLOCK_TAGS = frozenset(
    "address article aside blockquote body br caption dd details div dl dt figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody td tfoot th thead tr ul".split())
_SKIP_TAGS = frozenset("script style noscript template svg head title".split())
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class _Blocks(HTMLParser):
    """The text of an HTML page's body block by block, from the stdlib's streaming parser: it keeps
    no tree, so nesting depth costs nothing (lexbor's tree does: see html.read_html)."""

    def __init__(self, builder: Builder):
        super().__init__(convert_charrefs=True)
        self.builder, self.run, self.skipping = builder, [], 0

    def handle_starttag(self, tag, attrs):
        self._tag(tag, 1)

    def handle_endtag(self, tag):
        self._tag(tag, -1)

    def _tag(self, tag: str, step: int) -> None:
        if tag in _SKIP_TAGS:
            self.skipping = max(0, self.skipping + step)
        elif tag in _BLOCK_TAGS:
            self.flush()

    def handle_data(self, data):
        if not self.skipping:
            self.run.append(data)

    def flush(self) -> None:
        text = F.squash("".join(self.run))
        self.run.clear()
        if text:
            self.builder.paragraph(text)


def read_html_plain(text: str, builder: Builder) -> None:
    """An HTML page's text block by block into the builder (scripts, styles and the <head> left out)."""
    parser = _Blocks(builder)
    for at in range(0, len(text), 1 << 16):  # fed in pieces: the parser's buffer stays small
        parser.feed(text[at:at + (1 << 16)])
    parser.close()
    parser.flush()


def read_docx_plain(data: bytes, builder: Builder) -> None:
    """A Word file's body paragraphs in order (tables' cell paragraphs among them), read from
    word/document.xml by a streaming XML parser, without python-docx."""
    from lxml import etree

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open("word/document.xml") as xml:
            for _, paragraph in etree.iterparse(xml, events=("end",), tag=f"{_W}p", huge_tree=False,
                                                resolve_entities=False, no_network=True):
                parts = []
                for node in paragraph.iter(f"{_W}t", f"{_W}tab", f"{_W}br"):
                    parts.append(node.text or "" if node.tag == f"{_W}t" else " ")
                builder.paragraph(F.squash("".join(parts)))
                paragraph.clear()
    except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError) as exc:
        raise Unreadable(f"not a readable .docx ({type(exc).__name__}: {exc})", "not a DOCX") from None
