"""Word spaces in a PDF page's text decided from glyph geometry and, where that cannot tell, the document's words."""

from __future__ import annotations

import bisect
import ctypes
import re
from collections import Counter

KERN = 0.1  # a glyph this many font sizes over the one before it is set over it (an accent), not after a gap
_WORD = re.compile(r"[^\W\d_]+")


class Words:
    """The document's words, counted over pdfium's text of all its pages, which decide the spaces its
    geometry cannot: pdfium loses a kern that closes a TJ array before an empty string (groff's
    "(no) -420 ()" before a font change), so two words meet there without a gap ("noFILE"), and the
    glyphs after sit a word space too far left up to the writer's next absolute position, where a gap
    inside a word shows and pdfium makes up a space ("gi ven"). Each gap is as wide as a real one."""

    def __init__(self, texts: list[str], keep: int = 0):
        """`keep`: of how many first pages the words are kept for their edits (the pages the reader
        holds open between its passes); the others' are found again."""
        self.splits: dict[str, list[int]] = {}
        self.whole = Counter()
        self.kept: dict[str, list[tuple[int, int, str]]] = {}
        for n, text in enumerate(texts):
            tokens = _tokens(text)
            self.whole.update(w for _, _, w in tokens)
            if n < keep:
                self.kept[text] = tokens
        self.part = Counter()  # how often a word is one side of a space that may be inside a word
        for text in texts:
            for at, left, right in self._spaces(text, self.kept.get(text)):
                self.part[left] += 1
                self.part[right] += 1

    def _halves(self, word: str) -> list[int]:
        """Where the word splits into two words of the document, each of two letters or more (cached:
        most words recur)."""
        found = self.splits.get(word)
        if found is None:
            found = self.splits[word] = [k for k in range(2, len(word) - 1)
                                         if self.word(word[:k]) and self.word(word[k:])]
        return found

    def word(self, w: str) -> bool:
        """Written as a word of its own somewhere, not only as one side of a doubtful space."""
        return self.whole[w] > self.part[w]

    def _spaces(self, text: str, tokens=None):
        """(offset, word before, word after) of each space between two letters whose words, joined,
        are a word the document writes."""
        tokens = _tokens(text) if tokens is None else tokens
        whole = self.whole
        for (_, end, left), (start, _, right) in zip(tokens, tokens[1:]):
            if start == end + 1 and text[end] == " " and whole[left + right]:
                yield end, left, right

    def edits(self, textpage, text: str) -> dict[int, str]:
        """The page's offsets -> "drop" (the space there) or "insert" (a space before it).

        A space pdfium made up between two letters goes when their join is a word the document writes
        and not both sides are ("gi ven", "k eyword"), the gap is no wider than a font size, the glyphs
        are set in runs and the font changed earlier on the line (where the kern was lost). A space goes
        in where a word that is two of the document's words joined changes font between them ("noFILE";
        the font tells it from "al|ways", whose halves are words too, and which groff splits at a kern).
        The gap alone cannot tell: pdfium's positions carry the lost kern, so a glued pair shows no gap
        and a split word a word space's (benchmarks/bench_pdf_words.py --gaps)."""
        import pypdfium2.raw as raw

        out = {}
        tokens = self.kept.pop(text, None) or _tokens(text)
        for at, left, right in self._spaces(text, tokens):
            if self.word(left) and self.word(right):
                continue
            index = raw.FPDFText_GetCharIndexFromTextIndex(textpage, at)
            if index < 0 or not raw.FPDFText_IsGenerated(textpage, index):
                continue  # a space typed in the text is a word space
            gap, size = _gap(textpage, at - 1, at + 1)
            # A wider gap sets apart words or a table's cells. Chromium places glyphs one by one where
            # its layout put them: its "stack traces" (with "traces" only ever after "stack" and a
            # "stacktraces" in code) stays.
            if gap is not None and gap <= size and _runs(textpage, at - len(left), at + 1 + len(right)) \
                    and _font_change(textpage, text, at):
                out[at] = "drop"
        for a, _, word in tokens:
            for k in self._halves(word) if len(word) >= 4 else ():
                i = raw.FPDFText_GetCharIndexFromTextIndex(textpage, a + k - 1)
                j = raw.FPDFText_GetCharIndexFromTextIndex(textpage, a + k)
                if i < 0 or j < 0 or font(textpage, i) == font(textpage, j):
                    continue
                gap, size = _gap(textpage, a + k - 1, a + k)
                if gap is not None and gap > -KERN * size:  # not a glyph set over the one before
                    out[a + k] = "insert"
                    break
        return out


def _tokens(text: str) -> list[tuple[int, int, str]]:
    """The text's words as (start, end, lower-cased); found again on each pass, not kept: memory stays flat."""
    return [(m.start(), m.end(), m.group(0).lower()) for m in _WORD.finditer(text)]


def respace(text: str, edits: dict[int, str]):
    """The text with its edits made, and a function from the new text's offsets to the old one's
    (an inserted space maps to -1), so that char indices and boxes are still looked up right."""
    if not edits:
        return text, lambda k: k
    parts, marks, shifts, shift, last = [], [], [], 0, 0  # from new offset marks[n] on, old = new + shifts[n]
    for at in sorted(edits):
        parts.append(text[last:at])
        if edits[at] == "drop":
            marks.append(at - shift)
            shift += 1
            shifts.append(shift)
            last = at + 1
        else:
            parts.append(" ")
            marks += [at - shift, at - shift + 1]
            shifts += [None, shift - 1]  # the inserted space has no old offset
            shift -= 1
            last = at
    parts.append(text[last:])

    def old(k: int) -> int:
        n = bisect.bisect_right(marks, k) - 1
        if n < 0:
            return k
        return -1 if shifts[n] is None else k + shifts[n]

    return "".join(parts), old


def _runs(textpage, start: int, end: int) -> bool:
    """Are the glyphs of text offsets start..end set in runs (a text object holding two neighbours),
    as a typesetter writes them, not placed one by one, as Chromium does (whose gaps are where its
    layout put them)?"""
    import pypdfium2.raw as raw

    objects = []
    for k in range(start, end):
        index = raw.FPDFText_GetCharIndexFromTextIndex(textpage, k)
        objects.append(_address(raw.FPDFText_GetTextObject(textpage, index)) if index >= 0 else None)
    return any(a is not None and a == b for a, b in zip(objects, objects[1:]))


def _address(pointer) -> int | None:
    return ctypes.cast(pointer, ctypes.c_void_p).value


def _font_change(textpage, text: str, at: int) -> bool:
    """Does the font change on the line before text offset `at`?"""
    import pypdfium2.raw as raw

    before = None
    for k in range(at - 1, text.rfind("\n", 0, at), -1):
        index = raw.FPDFText_GetCharIndexFromTextIndex(textpage, k) if not text[k].isspace() else -1
        if index < 0:
            continue
        used = font(textpage, index)
        if before is not None and used != before:
            return True
        before = used
    return False


def font(textpage, index: int) -> tuple[str, int]:
    """The name (lowercased) and flags of the font the character at `index` is set in."""
    import pypdfium2.raw as raw

    buffer = ctypes.create_string_buffer(128)
    flags = ctypes.c_int()
    raw.FPDFText_GetFontInfo(textpage, index, buffer, 128, ctypes.byref(flags))
    return buffer.value.decode("latin-1").lower(), flags.value


def _gap(textpage, before: int, after: int) -> tuple[float | None, float]:
    """The horizontal gap from the advance of the glyph at text offset `before` to the origin of the one
    at `after` (loose boxes: kerning shows as a gap, a glyph's side bearings do not), and the font size."""
    import pypdfium2.raw as raw

    i = raw.FPDFText_GetCharIndexFromTextIndex(textpage, before)
    j = raw.FPDFText_GetCharIndexFromTextIndex(textpage, after)
    if i < 0 or j < 0:
        return None, 0.0
    size = raw.FPDFText_GetFontSize(textpage, i) or 10.0
    left = textpage.get_charbox(i, loose=True)
    right = textpage.get_charbox(j, loose=True)
    if abs(left[1] - right[1]) > size:  # not on one line
        return None, size
    return right[0] - left[2], size
