"""PDF paragraphs from line geometry: the lines of a page grouped into paragraphs (prose, list items,
code examples, table rows), and each paragraph's text with its line-end hyphens resolved."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from . import furniture as F

LEADING_SLACK = 1.12  # lines further apart than the usual spacing of their size by this much start a paragraph
LEADING_SAMPLES = 5  # line pairs of one size needed before its usual spacing is trusted
LEADING_SHARE = 0.1  # ... and the share of them a spacing must have to be the usual one
PARAGRAPH_GAP = 1.5  # ... or, for a size seen too rarely to know its spacing, this many font sizes
CODE_SLACK = 2.2  # code lines too, up to this times the spacing
ITEM_SLACK = 1.8  # list items are set apart by more than the line spacing, but less than this times it
ROW_GAP = 2.4  # table rows are set further apart than prose lines, but not this far
_BULLET = re.compile(r"^(?:[\u2022\u25e6\u25aa\u2023\u2043*\u2013-]|\d{1,2}[.)]|[a-z][.)])\s")


@dataclass
class Line:
    """One line of a page as pdfium gives it, with what its type and place say."""

    text: str
    top: float  # points from the page's bottom edge
    height: float  # the page's height in points
    size: float
    bold: bool
    row: bool  # a table row: cells set apart by wide gaps, already joined by " | "
    left: float = 0.0  # points from the page's left edge to the line's first character
    base: float = 0.0  # the baseline of its first character ...
    last_base: float = 0.0  # ... and of its last (pdfium runs a line hyphenated at its end into the next)
    hang: float | None = None  # a row's last cell: where it starts (a hanging tag's text), else None
    carried: bool = False  # a row's last cell carried on from the line before (see blocks)
    mono: bool = False  # set in a fixed-pitch font throughout (code, or a man page's literal words)
    code: bool = False  # a line of a code example, which keeps its line (see blocks)


def _drop(prev: Line, line: Line) -> float:
    """How far the line's first baseline sits below the previous line's last one: one line spacing
    between two lines of a paragraph, however pdfium cut its text into lines."""
    return prev.last_base - line.base


def leading(pages: list[list[Line]]) -> dict[float, float]:
    """Each type size's usual baseline-to-baseline distance: the smallest gap between two lines of that
    size that is common (a tenth of the pairs at least), measured over the whole document. Not simply
    the most common gap: where paragraphs are short, the gaps between them outnumber the line gaps."""
    gaps: dict[float, Counter] = {}
    for page in pages:
        for prev, line in zip(page, page[1:]):
            drop = _drop(prev, line)
            if abs(prev.size - line.size) < 0.1 and 0 < drop < 3 * line.size:
                gaps.setdefault(round(line.size, 1), Counter())[round(drop * 2) / 2] += 1
    # A size with few line pairs (headings), or whose gaps never recur (a page of odd spacing, a
    # manual's syntax boxes), has no usual spacing to learn; PARAGRAPH_GAP serves there.
    usual = {}
    for size, c in gaps.items():
        common = [gap for gap, n in c.items() if n >= max(LEADING_SAMPLES, LEADING_SHARE * c.total())]
        if common:
            usual[size] = min(common)
    return usual


def blocks(lines: list[Line], leading: dict[float, float]) -> list[list[Line]]:
    """Lines grouped into paragraphs (see _breaks); a run of list items, each a paragraph of its own
    by the spacing, is one paragraph, an item a line."""
    blocks: list[list[Line]] = []
    for line in lines:
        prev = blocks[-1][-1] if blocks else None
        if prev is not None and prev.row and _hangs(prev, line, leading):
            line.row, line.carried, line.hang = True, True, prev.hang
            blocks[-1].append(line)
        elif prev is not None and (prev.code or prev.mono or _breaks(prev, line, leading)) \
                and _code_goes_on(prev, line, leading):  # (two fixed-pitch lines in a row: a listing's)
            line.code = True
            prev.code = prev.code or prev.mono
            blocks[-1].append(line)
        elif prev is None or (_breaks(prev, line, leading) and not _next_item(blocks[-1], line, leading)):
            blocks.append([line])
        else:
            blocks[-1].append(line)
    return blocks


def _spaced(prev: Line, line: Line, leading: dict[float, float], slack: float = 1.0) -> bool:
    """Is the line further below the previous one than the usual spacing of its size (times `slack`)?"""
    usual = leading.get(round(line.size, 1))
    limit = usual * LEADING_SLACK + 0.5 if usual else PARAGRAPH_GAP * line.size
    return _drop(prev, line) > limit * slack


def _hangs(prev: Line, line: Line, leading: dict[float, float]) -> bool:
    """A prose line set under the last cell of the row above, at the usual spacing: that cell's text
    wraps (a hanging tag, "-v | Request verbose logging..." and its paragraph under the text)."""
    return (not line.row and prev.hang is not None and abs(line.left - prev.hang) <= 2
            and abs(prev.size - line.size) <= 0.5 and _drop(prev, line) > 0 and not _spaced(prev, line, leading))


def _next_item(block: list[Line], line: Line, leading: dict[float, float]) -> bool:
    """Does the line open the next item of the list the block is (items set apart by a little more
    than the line spacing, each opening with a bullet or number at the same place)?"""
    prev = block[-1]
    first = next((ln for ln in block if not ln.row and _BULLET.match(ln.text)), None)
    if first is None and not prev.row and prev.text.rstrip().endswith(":"):
        first = line  # the sentence that introduces a list goes with it
    if first is None:
        return False
    return (not first.row and not line.row and bool(_BULLET.match(first.text)) and bool(_BULLET.match(line.text))
            and abs(first.left - line.left) <= 2 and abs(first.size - line.size) <= 0.5 and first.bold == line.bold
            and _drop(prev, line) > 0 and not _spaced(prev, line, leading, ITEM_SLACK))


def _code_goes_on(prev: Line, line: Line, leading: dict[float, float]) -> bool:
    """Is the line the next line of a code example, or its first one after the sentence that introduces
    it (ending in a colon)? Code is often set with more space between lines than prose."""
    opens = not prev.mono and not prev.row and prev.text.rstrip().endswith(":")
    return (line.mono and (prev.mono or opens) and abs(prev.size - line.size) <= 1.0
            and _drop(prev, line) > 0 and not _spaced(prev, line, leading, CODE_SLACK))


def _breaks(prev: Line, line: Line, leading: dict[float, float]) -> bool:
    """A new paragraph starts at a change of type size, between prose and table rows, at a change of
    weight where the line also starts elsewhere (a heading set out in the margin), or (unless the line
    carries on a sentence that the previous one breaks off) at a change of weight, a gap wider than
    the usual line spacing, or a jump back up the page (the next column)."""
    if prev.row != line.row or abs(prev.size - line.size) > 0.5:
        return True
    if prev.bold != line.bold and abs(prev.left - line.left) > 2 and not prev.carried:
        return True
    if F.continues(prev.text, line.text):
        return False
    if prev.bold != line.bold:
        return True
    drop = _drop(prev, line)
    if drop < 0:
        return True
    if line.row:
        return drop > ROW_GAP * line.size
    return _spaced(prev, line, leading)


def block_text(block: list[Line], known: set[str], keep: bool) -> str:
    if block[0].row:
        # A row a line; a cell carried on to the next line is joined to its row first.
        rows: list[list[str]] = []
        for ln in block:
            if ln.carried and rows:
                rows[-1].append(ln.text)
            else:
                rows.append([ln.text])
        return "\n".join(F.join_hyphens("\n".join(row), known, keep).replace("\n", " ") for row in rows)
    # Code keeps its lines as they are. In prose, hyphens are joined while the line ends are still
    # there; then a list item keeps its own line and the other line ends become spaces.
    runs = [[block[0]]]
    for ln in block[1:]:
        if ln.code == runs[-1][-1].code:
            runs[-1].append(ln)
        else:
            runs.append([ln])
    out = []
    for run in runs:
        if run[0].code:
            out.append("\n".join(ln.text for ln in run))
            continue
        lines = F.join_hyphens("\n".join(ln.text for ln in run), known, keep).split("\n")
        out.append(lines[0] + "".join(("\n" if _BULLET.match(ln) else " ") + ln for ln in lines[1:]))
    return "\n".join(out)


def page_hyphens(paragraphs: list[list[tuple[list[Line], str]]], known: set[str], keep: bool) -> set[int]:
    """The pages whose first paragraph carries on a word hyphenated at the end of the page before
    ("them-" | "selves do not"); the hyphen of each such word is dropped from the page before's last
    paragraph unless it is the word's own (see furniture.join_hyphens)."""
    glued = set()
    for index in range(1, len(paragraphs)):
        before, after = paragraphs[index - 1], paragraphs[index]
        if not before or not after or before[-1][0][0].row or before[-1][0][-1].code:
            continue
        run_on = F.page_hyphen(before[-1][1], after[0][1], known, keep)
        if run_on is not None:
            before[-1] = (before[-1][0], run_on)
            glued.add(index)
    return glued
