"""Code blocks, listings and transcripts in a document's text: found in Markdown, cut out of paragraphs."""

from __future__ import annotations

import re

# A fence opens and closes a Markdown code block (CommonMark: three backticks or tildes, or more).
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_INDENTED = re.compile(r"^(?: {4}|\t)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s")
_LINE = re.compile(r"[^\n]*\n?")
MAX_RUN = 1500  # a sentence run on through code is kept whole up to this many characters (a passage's most)
_MONO_STYLE = re.compile(r"code|source|preformat|verbatim|listing|macro|plain\s*text|html\s*pre|console|terminal", re.I)
_MONO_FONT = re.compile(r"mono|courier|consol|menlo|typewriter|cmtt|lucida\s*console|fixed", re.I)


def markdown_code(text: str) -> list[tuple[int, int]]:
    """(start, end) of each fenced code block (fences included) and each indented code block (a run of
    lines indented four spaces after a blank line) of a Markdown text. An unclosed fence runs to the
    end, as CommonMark reads it."""
    spans: list[tuple[int, int]] = []
    fence, opened, blank, indented, item = "", -1, True, -1, False
    for m in _LINE.finditer(text):
        line = m.group().rstrip("\r\n")
        if not m.group():
            break
        if fence:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                spans.append((opened, m.start() + len(line)))
                fence = ""
            continue
        opening = _FENCE.match(line)
        if opening:
            if indented >= 0:
                spans.append((indented, _end_of_last(text, m.start())))
                indented = -1
            fence, opened = opening.group(1), m.start()
            continue
        if indented >= 0 and line.strip() and not _INDENTED.match(line):
            spans.append((indented, _end_of_last(text, m.start())))
            indented = -1
        elif indented < 0 and blank and line.strip() and _INDENTED.match(line) and not item:
            indented = m.start()  # (after a list item, an indented paragraph is the item's own)
        blank = not line.strip()
        if line.strip() and indented < 0:
            item = bool(_LIST_ITEM.match(line)) or (item and not blank and bool(line[:1].isspace()))
    if fence:
        spans.append((opened, len(text.rstrip())))
    elif indented >= 0:
        spans.append((indented, len(text.rstrip())))
    return spans


def _end_of_last(text: str, before: int) -> int:
    """The end of the last non-blank line before offset `before`."""
    return len(text[:before].rstrip())


def cut_at_code(start: int, end: int, code: list[tuple[int, int]]) -> list[tuple[int, int, bool]]:
    """The range start..end cut where a code span begins or ends: (start, end, is code) pieces in order."""
    pieces, at = [], start
    for a, b in code:
        if b <= at or a >= end:
            continue
        a, b = max(a, at), min(b, end)
        if a >= b:
            continue
        if a > at:
            pieces.append((at, a, False))
        pieces.append((a, b, True))
        at = b
    if at < end:
        pieces.append((at, end, False))
    return pieces


def blocks_around(text: str, code: list[tuple[int, int]], block: re.Pattern) -> list[tuple[int, int, bool]]:
    """The text's blocks (matches of `block`) between its code spans, and each code span as one block,
    blank lines and all: (start, end, is code), in order, whitespace trimmed."""
    out, at = [], 0
    for a, b in [*code, (len(text), len(text))]:
        out.extend((m.start(), m.end(), False) for m in block.finditer(text, at, a))
        chunk = text[a:b]
        if chunk.strip():
            out.append((a + len(chunk) - len(chunk.lstrip()), b - (len(chunk) - len(chunk.rstrip())), True))
        at = b
    return out


def through_code(pieces: list[tuple[object, int, int, bool]], text: str,
                 ends_sentence: re.Pattern) -> list[tuple[object, int, int, bool]]:
    """(place, start, end, is code) pieces with each sentence that runs on through a code block ("set it
    with" / `export X=1` / "before you start") made one prose piece: neither half holds both the meaning
    and the fact. Told by the prose before having no sentence end (`ends_sentence`) and the prose after
    going on in lower case, all three in one place (section); the whole no longer than MAX_RUN."""
    out: list[tuple[object, int, int, bool]] = []
    for place, start, end, is_code in pieces:
        if (not is_code and len(out) >= 2 and out[-1][3] and not out[-2][3] and out[-2][0] == out[-1][0] == place
                and not ends_sentence.search(text[out[-2][1]:out[-2][2]]) and text[start:start + 1].islower()
                and end - out[-2][1] <= MAX_RUN):
            start = out[-2][1]
            del out[-2:]
        out.append((place, start, end, is_code))
    return out


def code_runs(text: str, lines: list[tuple[str, bool]]) -> list[tuple[int, int]]:
    """(start, end) in `text` of each run of code lines among a paragraph's (line, is code) lines, where
    the paragraph's text keeps its code lines whole, one a line (a PDF's code example)."""
    out, at, k = [], 0, 0
    while k < len(lines):
        n = 0
        while k + n < len(lines) and lines[k + n][1]:
            n += 1
        if n:
            run = "\n".join(line for line, _ in lines[k:k + n])
            found = text.find(run, at)
            if found >= 0:
                at = found + len(run)
                out.append((found, at))
        k += max(n, 1)
    return out


def code_style(style_names: list[str]) -> bool:
    """Is a Word paragraph style (its name and the names of the styles it is based on) one for code:
    pandoc's "Source Code", LibreOffice's "Preformatted Text", "HTML Preformatted", "Macro Text", ..."""
    return any(_MONO_STYLE.search(name) for name in style_names if name)


def mono_font(name: str | None) -> bool:
    """Is a font, by its name, a fixed-pitch one (Courier, Consolas, DejaVu Sans Mono, cmtt, ...)?"""
    return bool(name) and bool(_MONO_FONT.search(name))
