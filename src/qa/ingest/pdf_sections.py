"""Sections of a PDF from its headings: the outline (bookmarks) when it has one, else type size and numbering; the title."""

from __future__ import annotations

import bisect
import re

from . import furniture as F
from .document import Builder

HEADING_SCALE = 1.15  # a line set this much larger than the body text is a heading
TITLE_MAX = 120  # the line under an undistinguished first heading stands for the title up to this length
_NUMBER_PREFIX = re.compile(r"^(?:(?i:chapter|section|part|appendix)\s+)?(?:(?:\d+|[A-Z])\.)*(?:\d+|[A-Z])\.?\s+(?=\S)")


def under_first(heads, starts_by_page) -> tuple[int, str] | None:
    """The paragraph right under the first heading, when it is short (TITLE_MAX characters; a man page's
    "grep, egrep, fgrep, rgrep - print lines that match patterns" under NAME)."""
    if not heads:
        return None
    flat = [st for page in starts_by_page for st in page]
    at = next((k for k, (start, _) in enumerate(flat) if start == heads[0][0]), None)
    if at is None or at + 1 >= len(flat) or any(h[0] == flat[at + 1][0] for h in heads):
        return None
    start, text = flat[at + 1]
    text = F.squash(text)
    return (start, text) if 0 < len(text) <= TITLE_MAX else None


def first_title(heads) -> tuple[int, str] | None:
    """The document's title: the largest heading on the first page that has any."""
    if not heads:
        return None
    page = heads[0][3]
    first_page = [h for h in heads if h[3] == page]
    top = max(h[2] for h in first_page)
    start, text, _, _ = next(h for h in first_page if h[2] == top)
    return start, text


def font_sections(heads, builder: Builder, under_first=None, named: str = "") -> None:
    """Sections from the headings the type shows: numbered ones by their number's depth, the
    others by size rank below the title. A first heading set no larger than the headings after it
    is no title but the first of them (a man page's NAME, as large as its SYNOPSIS) unless the
    metadata names it: the title is then the metadata's, else the short line under that heading,
    and the heading ranks as the others."""
    title = first_title(heads)
    instead = named or (under_first[1] if under_first else "")
    if title and instead and title[0] == heads[0][0] and F.squash(title[1]).casefold() != instead.casefold() \
            and any(h[2] >= heads[0][2] for h in heads[1:]):
        builder.mark(title[0], instead, 1)  # marked before the heading at its offset: the heading's section is inside
        title = None
    if title:
        builder.mark(title[0], title[1], 1)
    ranks = sorted({h[2] for h in heads if title is None or h[0] != title[0]}, reverse=True)
    for start, text, size, _ in heads:
        if title and start == title[0]:
            continue
        level = F.numbered_level(text) or min(6, 2 + ranks.index(size))
        builder.mark(start, text, level)


def outline_sections(outline, heads, starts_by_page, builder: Builder, body: float) -> bool:
    """Sections from the bookmarks, each at the heading on its page that reads the same, its number
    aside ("2.2 Simple parsing" for the bookmark "Simple parsing"), and named as printed; never before
    the previous bookmark's place. A bookmark whose heading is not on its page is left out; when that is
    most of them (an outline that does not match the text), False: the type decides instead. A lone
    top-level bookmark is the title; otherwise the type finds it. A heading set larger than the body
    text that no bookmark names (a function's name in a reference chapter) starts a section one level
    below the bookmark it stands under."""
    marks, floor = [], 0
    shift = 1 if sum(entry[0] == 0 for entry in outline) == 1 else 2
    for depth, title_text, page in outline:
        if page >= len(starts_by_page):
            continue
        wanted = unnumbered(title_text)
        starts = [(s, t) for s, t in starts_by_page[page] if s >= floor and F.heading_like(t)]
        found = next(((s, t) for s, t in starts if unnumbered(t) == wanted), None)
        found = found or next(((s, t) for s, t in starts if unnumbered(t).startswith(wanted)), None)
        if found:
            marks.append((found[0], found[1], min(6, depth + shift)))
            floor = found[0]
    if len(marks) < len(outline) / 2:
        return False
    title = first_title(heads) if shift == 2 else None
    if title and all(start != title[0] for start, _, _ in marks):
        builder.mark(title[0], title[1], 1)
    for mark in marks:
        builder.mark(*mark)
    placed = [start for start, _, _ in marks]
    for start, text, size, _ in heads:
        at = bisect.bisect_right(placed, start) - 1
        if size >= body * HEADING_SCALE and at >= 0 and placed[at] != start and (not title or start != title[0]):
            builder.mark(start, text, min(6, marks[at][2] + 1))
    return True


def unnumbered(text: str) -> str:
    return _NUMBER_PREFIX.sub("", F.squash(text)).casefold()
