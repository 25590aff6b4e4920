"""HTML reader on selectolax: the page's own structure read block by block, furniture left out."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from . import furniture as F
from .document import Builder, Document, TitleLevels, Unreadable, Warn, guarded
from .plain import read_html_plain

HEADINGS = {f"h{n}": n for n in range(1, 7)}
# Never content: scripts and styles, forms, and the HTML5 tags for site navigation and furniture.
DROP_TAGS = "script, style, noscript, template, svg, canvas, nav, aside, footer, form, button, iframe, select, dialog"
# Class/id/role words that sites use for furniture, matched as whole words ("navbar", "cookie-banner",
# "site-footer", "breadcrumbs", "comments-area"), never inside longer words ("commentary" is no "comment").
_FURNITURE_NAME = re.compile(
    r"(?:^|[-_\s])(?:nav|navbar|navigation|menu|breadcrumbs?|crumbs|sidebar|side-bar|footer|masthead|cookies?|"
    r"consent|gdpr|banner|pagination|pager|share|sharing|social|related|widget|widget-area|advert|ads|"
    r"newsletter|subscribe|skip-link|toc|comments?|respond)(?:$|[-_\s])",
    re.I,
)
_FURNITURE_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alertdialog"}
# "Next: Thread Safety, Previous: The Closure API, Up: Using libffi" and "← Previous: Installing".
_PREV_NEXT = re.compile(r"^\W*(?:next|previous|prev|up|back|older|newer)\b(?:\s+(?:post|page|article))?\s*[:\u2190\u2192]?", re.I)
BLOCKS = {
    "p", "pre", "blockquote", "ul", "ol", "dl", "table", "li", "dt", "dd", "tr", "div", "section", "article",
    "main", "header", "figure", "figcaption", "address", "details", "summary", "center", "hr", "body", "caption",
    "thead", "tbody", "tfoot", "td", "th", "noframes", "fieldset",
    *HEADINGS,
}
# Past this nesting depth a page is read on the plain path: lexbor's tree costs time quadratic in the
# depth (20,000 nested <div>s: 2 s; 200,000: minutes) and _walk recurses once a level.
DEPTH_MAX = 500
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^>]*>")  # (self-closing: "/" before the ">")
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_SELF_CLOSING = frozenset("p li dt dd tr td th option thead tbody tfoot".split())  # end tags optional
_SCOPES = frozenset("table ul ol dl select div body".split())  # ... which close nothing outside these
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([-\w:.]+)""", re.I)
# WHATWG: pages labelled Latin-1 or ASCII are decoded as windows-1252, which every browser does.
_AS_1252 = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii", "windows-1252", "cp1252"}


def read_html(path: Path, name: str, warn: Warn) -> Document | None:
    """The page's main text, h1-h6 as sections (the title from <h1>, else <title>), tables as rows; the
    body's text block by block where those rules fail."""
    return guarded("html", _extract, path, name, warn, plain=_plain)


def _plain(data: bytes, builder: Builder) -> None:
    read_html_plain(decode(data), builder)


def decode(data: bytes) -> str:
    """The page's characters: a byte-order mark, else its <meta charset>, else UTF-8, else windows-1252."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding)
    if b"\0" in data[:4096]:
        raise Unreadable("not a text file (binary data)", "binary")
    m = _META_CHARSET.search(data[:4096])
    if m:
        label = m.group(1).decode("ascii", "replace").lower()
        encoding = "cp1252" if label in _AS_1252 else label
        try:
            return data.decode(encoding, errors="replace")
        except LookupError:
            pass  # an unknown label: decide from the bytes as if there were none
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _extract(data: bytes, builder: Builder) -> None:
    from selectolax.lexbor import LexborHTMLParser

    text = decode(data)
    if _deeper_than(text, DEPTH_MAX):
        builder.plain_document(f"elements nested over {DEPTH_MAX} deep, past what the layout reader takes")
        read_html_plain(text, builder)
        return
    tree = LexborHTMLParser(text)
    if tree.body is None:
        raise Unreadable("not an HTML page", "not HTML")
    title_node = tree.css_first("title")
    title = F.squash(title_node.text()) if title_node is not None else ""
    _drop_furniture(tree)
    root = tree.css_first("main") or tree.css_first("[role=main]") or _only(tree.css("article")) or tree.body
    if root.css_first("h1") is None and title:
        # No <h1>: the <title> names the page, less a site name after a separator.
        builder.heading(re.split(r"\s+[|\u2013\u2014-]\s+", title)[0], 1)
    _walk(root, builder, TitleLevels(len(root.css("h1"))))


def _deeper_than(text: str, limit: int) -> bool:
    """Are the page's elements nested deeper than `limit`? Tags are counted as a browser closes them,
    roughly (void elements close at once, an item or cell closes the open one of its kind, an end tag
    closes up to its start tag), in one pass that stops at the limit; hand-written because no parser
    can be asked for the depth without building the tree whose cost is the point."""
    stack: list[str] = []
    for m in _TAG.finditer(text):
        close, name = m.groups()
        name = name.lower()
        if close and stack and stack[-1] == name:  # (most end tags: the quick way)
            stack.pop()
        elif close:  # an end tag: close up to its start tag, if one is open near the top
            for back in range(len(stack) - 1, max(-1, len(stack) - 64), -1):
                if stack[back] == name:
                    del stack[back:]
                    break
        elif name not in _VOID and text[m.end() - 2] != "/":
            if name in _SELF_CLOSING:  # closes an open one of its kind within its table or list
                for back in range(len(stack) - 1, max(-1, len(stack) - 4), -1):
                    if stack[back] == name:
                        del stack[back:]
                        break
                    if stack[back] in _SCOPES:
                        break
            stack.append(name)
            if len(stack) > limit:
                return True
    return False


def _only(nodes):
    return nodes[0] if len(nodes) == 1 else None


def _drop_furniture(tree) -> None:
    for node in tree.css(DROP_TAGS):
        node.decompose()
    for node in tree.css("br"):
        node.replace_with(" ")  # a line break is a word break: "GCC 12<br>Changes" is two words
    for node in tree.css("h1 a, h2 a, h3 a, h4 a, h5 a, h6 a, a[href^='#']"):
        # A heading's or a definition's permalink ("¶", "#", "§") is a symbol, not part of its text.
        text = node.text(deep=True).strip()
        if text and len(text) <= 2 and not any(ch.isalnum() for ch in text):
            node.decompose()
    # What the page hides is not what the reader reads (closed cookie dialogs, menus shown on a click).
    for node in tree.css("[hidden], [aria-hidden=true], [style]"):
        attrs = node.attributes
        style = (attrs.get("style") or "").replace(" ", "").lower()
        hidden = "hidden" in attrs or attrs.get("aria-hidden") == "true"
        if node.tag not in ("html", "body") and (hidden or "display:none" in style or "visibility:hidden" in style):
            node.decompose()
    for node in tree.css("header"):
        # A page's <header> is the site's; an article's own <header> holds its title.
        if node.css_first("h1") is None:
            node.decompose()
    for node in tree.css("[class], [id], [role], [aria-label]"):
        if node.tag in ("html", "body", "main", "article"):
            continue
        attrs = node.attributes
        names = " ".join(attrs.get(a) or "" for a in ("class", "id", "aria-label"))
        furniture = _FURNITURE_NAME.search(names) or (attrs.get("role") or "").lower() in _FURNITURE_ROLES
        # A wrapper named like furniture that holds the page's heading or article is layout, not furniture.
        if furniture and node.css_first("h1, main, article") is None:
            node.decompose()


def _walk(node, builder: Builder, levels: TitleLevels) -> None:
    """Each block element becomes a heading or paragraph; inline text between blocks is a paragraph."""
    run: list[str] = []
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag not in BLOCKS:
            run.append(child.text(deep=True))
            continue
        _paragraph(run, builder)
        run = []
        if tag in HEADINGS:
            builder.heading(F.without_marks(child.text(deep=True)), levels(HEADINGS[tag]))
        elif tag == "p" or tag == "address" or tag == "figcaption" or tag == "summary" or tag == "caption":
            if not _navigation(child):
                builder.paragraph(F.squash(child.text(deep=True)))
        elif tag == "pre":
            # Code keeps its lines; blank lines inside would read as paragraph breaks, so they go.
            lines = [ln.rstrip() for ln in child.text(deep=True).split("\n")]
            builder.paragraph("\n".join(ln for ln in lines if ln.strip()), code=True)
        elif tag in ("ul", "ol", "dl"):
            _list(child, builder)
        elif tag == "table":
            _table(child, builder, levels)
        elif tag != "hr":
            _walk(child, builder, levels)
    _paragraph(run, builder)


def _paragraph(run: list[str], builder: Builder) -> None:
    text = F.squash("".join(run))
    if text:
        builder.paragraph(text)


def _navigation(node) -> bool:
    """A block of links that points elsewhere: previous/next links, or a list that is all links."""
    text = F.squash(node.text(deep=True))
    if not text:
        return True
    # letters only: a table of contents' numbering ("1.1. <a>How do you pronounce ...</a>") is not text
    # of its own, so a numbered list of links is all links
    letters = _letters(text) or len(text)  # no letters at all (a list of numbers): never all links
    linked = sum(_letters(a.text(deep=True)) for a in node.css("a"))
    return linked >= 0.5 * letters and bool(_PREV_NEXT.match(text)) or linked >= 0.9 * letters


def _letters(text: str) -> int:
    return sum(c.isalpha() for c in text)


def _inside(node, selector: str) -> bool:
    """Does `node` hold an element matching `selector` (selectolax's css() also matches the node itself)?"""
    return any(n.mem_id != node.mem_id for n in node.css(selector))


def _list(node, builder: Builder) -> None:
    """A bulleted or numbered list is one paragraph, one line an item; a definition list is one
    paragraph an entry (its terms, then what they define), so an option and its description stay
    together. An item's own text comes before its nested list's lines: none of it is lost. A list whose
    items are only links (a menu, a table of contents) is left out."""
    if node.tag != "dl":
        lines = _item_lines(node)  # none for a menu
        if lines:
            builder.paragraph("\n".join(lines))
    elif not _navigation(node):
        for entry in _entries(node):
            builder.paragraph("\n".join(entry))


_ITEMS = ("li", "dt", "dd")
_LISTS = ("ul", "ol", "dl")


def _entries(node) -> list[list[str]]:
    """A definition list's entries, each the lines of its terms and their definitions (a term after a
    definition starts the next entry; a <div> grouping an entry's terms and definitions is read through)."""
    entries: list[list[str]] = []
    last = None
    for child in node.iter():
        items = [child] if child.tag in _ITEMS else [c for c in child.iter() if c.tag in _ITEMS]
        for item in items:
            if not entries or (item.tag != "dd" and last == "dd"):
                entries.append([])
            entries[-1].extend(_item_lines(item))
            last = item.tag
    return [entry for entry in entries if entry]


def _item_lines(item) -> list[str]:
    """An item's text as lines: its own text (up to a nested list, and after it) and the nested list's
    lines, in reading order."""
    if item.tag == "-text":  # text straight inside a list, outside any item
        return [F.squash(item.text())] if item.text().strip() else []
    if item.tag in _LISTS:  # a nested list: its items' lines (a menu inside an item is left out)
        if _navigation(item):
            return []
        if item.tag == "dl":
            return [line for entry in _entries(item) for line in entry]
        return [line for child in item.iter(include_text=True) for line in _item_lines(child)]
    lines: list[str] = []
    run: list[str] = []

    def flush() -> None:
        text = F.squash("".join(run))
        if text:
            lines.append(text)
        run.clear()

    for child in item.iter(include_text=True):
        if child.tag in _LISTS:
            flush()
            lines.extend(_item_lines(child))
        else:
            run.append(child.text(deep=True))
    flush()
    return lines


def _table(node, builder: Builder, levels: TitleLevels) -> None:
    """Rows as lines, cells joined by " | "; a table laid out with paragraphs or headings inside its
    cells is page layout, read as blocks."""
    if _inside(node, "p, h1, h2, h3, h4, h5, h6, div, ul, ol, table"):
        _walk(node, builder, levels)
        return
    rows = []
    for tr in node.css("tr"):
        cells = [F.squash(c.text(deep=True)) for c in tr.css("th, td")]
        if any(cells):
            rows.append(" | ".join(cells))
    if rows:
        builder.paragraph("\n".join(rows))
