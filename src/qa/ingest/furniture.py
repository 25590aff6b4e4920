"""Format-independent rules for page furniture, hyphenation, line joining and numbered headings."""

from __future__ import annotations

import re
from collections import Counter

# "7", "Page 7", "page 7 of 30", "7 / 30", "- 7 -", "vii": what page-number lines look like.
PAGE_NUMBER = re.compile(r"^[-\u2013\u2014\s]*(?:page\s+)?(?:\d+|[ivxlc]+)(?:\s*(?:of|/)\s*\d+)?[-\u2013\u2014\s]*$", re.I)
# "2", "2.4", "2.4." followed by a capitalised title: a numbered heading; the depth of the number is its level.
NUMBERED = re.compile(r"^((?:\d+\.)*\d+)\.?\s+[A-Z]")
SENTENCE_END = tuple(".!?:;\"'\u201d)")
HEADING_MAX_CHARS = 100
KEEPS_HYPHENS = 3  # line-end compounds needed to take a document for one that does not hyphenate
HEADING_MAX_WORDS = 14
# A word broken at a line end: pdfium marks the hyphen it saw there as U+FFFE, some writers put a soft
# hyphen (U+00AD) there, and other text keeps "-\n".
_BROKEN = re.compile(r"([A-Za-z\u00c0-\u024f]+)(?:\ufffe\n?|\u00ad\n?|-\n|-\r\n)([a-z\u00df-\u024f]+)")
# Typographic ligatures ("ﬁ" in "ﬁle") as the letters they stand for, so that words are found.
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                            "\ufb05": "st", "\ufb06": "st"})
_WORD = re.compile(r"[a-z\u00df-\u024f]+")
_HYPHENATED = re.compile(r"\b[A-Za-z\u00c0-\u024f]+-[A-Za-z\u00c0-\u024f]+\b")


def squash(text: str) -> str:
    """White space folded to single spaces, ends trimmed."""
    return " ".join(text.split())


def furniture_key(text: str) -> str:
    """What makes two running lines "the same": case and white space folded, every number alike
    (so "Page 3 of 9" on page 3 and "Page 4 of 9" on page 4 are one running footer)."""
    return re.sub(r"\d+", "#", squash(text).casefold())


def repeated(keys_by_page: list[set], share: float = 0.5) -> set:
    """The keys found on at least `share` of the pages (and on two pages at the least)."""
    counts = Counter(key for keys in keys_by_page for key in keys)
    needed = max(2, share * len(keys_by_page))
    return {key for key, n in counts.items() if n >= needed}


def compounds(text: str) -> set[str]:
    """The words the document writes inside a line, folded: the hyphenated ones with their hyphen
    ("well-known"), and every word."""
    return {m.group(0).casefold() for m in _HYPHENATED.finditer(text)} | set(_WORD.findall(text.casefold()))


def keeps_hyphens(text: str, known: set[str]) -> bool:
    """Does the document break lines only at hyphens its words have (a browser's print, which does not
    hyphenate), rather than hyphenate words (a typesetter)? Told by its line-end hyphens (`text` with
    its line ends) where the document writes one form elsewhere: more compounds ("memory-checking")
    than joined words ("session" for "ses-sion"), and KEEPS_HYPHENS of them at least: a few line ends
    tell nothing."""
    compound = joined = 0
    for m in _BROKEN.finditer(text):
        left, right = m.group(1).casefold(), m.group(2).casefold()
        compound += f"{left}-{right}" in known
        joined += f"{left}-{right}" not in known and left + right in known
    return compound >= KEEPS_HYPHENS and compound > joined


def join_hyphens(text: str, known: set[str], keep: bool = False) -> str:
    """Join words hyphenated across a line end: "exam-\\nple" -> "example". The hyphen stays when the
    word after it starts with a capital (a name, "Jean-\\nPierre": the pattern needs a lower-case start),
    when the document writes the compound with its hyphen elsewhere ("well-known"), or when the part
    before it follows a hyphen itself (an option, "--trace-\\nchildren", or "all-non-\\nfile": a line broken
    at a hyphen the word has) unless the document writes the joined word elsewhere ("colon-sepa-\\nrated").
    With `keep` (a document that does not hyphenate, see keeps_hyphens) the hyphen stays unless the
    document writes the joined word."""

    def fix(m: re.Match) -> str:
        left, right = m.group(1), m.group(2)
        if f"{left}-{right}".casefold() in known:
            return f"{left}-{right}"
        if (keep or m.string[m.start() - 1:m.start()] == "-") and (left + right).casefold() not in known:
            return f"{left}-{right}"
        return left + right

    return _BROKEN.sub(fix, text).replace("\ufffe\n", "-").replace("\ufffe", "-").replace("\u00ad", "")


def page_hyphen(before: str, after: str, known: set[str], keep: bool = False) -> str | None:
    """A word hyphenated across a page break: the text `before` ends with "exam-" and the next page's
    paragraph `after` carries on with "ple". `before` as it is to be run on into `after` with nothing
    between them (its hyphen dropped, or kept by the rules of join_hyphens), or None if it is not that."""
    m = re.search(r"([A-Za-z\u00c0-\u024f]+)-$", before)
    n = re.match(r"[a-z\u00df-\u024f]+", after)
    if m is None or n is None or not continues(before, after):
        return None
    word = join_hyphens(before[max(0, m.start() - 1):] + "\n" + n.group(0), known, keep)
    return before[:-1] if "-" not in word.lstrip("-") else before


def plain(text: str) -> str:
    """Ligatures spelt out."""
    return text.translate(_LIGATURES)


def continues(before: str, after: str) -> bool:
    """Does `after` carry on the sentence `before` breaks off? Yes when `before` has no closing
    punctuation and `after` starts in lower case: the case where a line or page break cuts a sentence."""
    before, after = before.rstrip(), after.lstrip()
    return bool(before and after) and not before.endswith(SENTENCE_END) and after[0].islower()


def heading_like(text: str) -> bool:
    """Short, one line and without closing punctuation: the shape a heading has."""
    return (
        0 < len(text) <= HEADING_MAX_CHARS
        and len(text.split()) <= HEADING_MAX_WORDS
        and "\n" not in text
        and not text.rstrip().endswith(tuple(".,;:!"))  # a question can head a section
    )


def numbered_level(text: str) -> int | None:
    """ "2. Installing" -> 2, "2.4. The glob files" -> 3 (the title is level 1); None if not numbered."""
    m = NUMBERED.match(text)
    return None if m is None else min(6, m.group(1).count(".") + 2)


# The navigation and page furniture that documentation generators (Sphinx, Doxygen, DocBook's XSL,
# Texinfo, MkDocs, Javadoc) put around a page, as whole lines: a web page's, and a Word file's made
# from one, where the links are gone and only their words are left. Written as what such lines say,
# never as one site's text.
_NAVIGATION_LINE = re.compile(
    r"""^(?:
        (?:previous|next)\s+(?:topic|page|chapter|section) | this\s+page | show\s+source | view\s+(?:page\s+)?source
      | report\s+a\s+(?:bug|problem|documentation\s+issue) | edit\s+(?:on\s+\w+|this\s+page) | quick\s+search
      | table\s+of\s+contents | on\s+this\s+page | navigation | permalink(?:\s+to\s+this\s+\w+)?
      | go\s+to\s+(?:the\s+)?(?:top|content|main\s+content) | skip\s+to\s+(?:main\s+)?content
      | (?:prev(?:ious)?|next|up|home|index|contents|modules)(?:\s*[|\u00b7\u2022/]?\s*(?:prev(?:ious)?|next|up|home|index|contents|modules))+
      | (?:prev(?:ious)?|next|up|home|index|contents|modules)\s*[|\u00bb\u203a]
      | [^.!?]{1,60}?\s[\u00bb\u203a]  # a breadcrumb's step ("The Python Standard Library »")
      | [|\u00bb\u203a\u2190\u2192]  # a separator left alone on its line
      | \u00a9\s*(?:copyright\s+)?.{0,100} | created\s+using\s+\w+.{0,40} | last\s+updated\s+on\s+.{0,40}
      | generated\s+(?:on\s+.{0,60}\s+)?by\s+doxygen.{0,40}
      | (?:\[(?:contents|index|top)\]\s*)+
      | (?:(?:next|previous|prev|up)\s*:\s*[^:]{1,120}?[,;]?\s*){2,}(?:\s*(?:\[(?:contents|index|top)\]\s*)+)?
      | (?:next|previous|prev|up)\s*:\s*[^:\[]{1,120}?\s*(?:\[(?:contents|index|top)\]\s*)+
    )\W*$""",
    re.IGNORECASE | re.VERBOSE,
)
# The headings of a site's side panels: a heading over navigation, never over content.
_NAVIGATION_HEADING = re.compile(
    r"^(?:(?:previous|next)\s+(?:topic|page|chapter)|this\s+page|table\s+of\s+contents|contents|"
    r"quick\s+search|related\s+topics|on\s+this\s+page)$",
    re.IGNORECASE,
)
# Marks a site puts after a heading's text for its permalink: a pilcrow, "#", "§", a link sign, or the
# word "Permalink"; a "#" only where it stands apart ("C#" keeps its).
_HEADING_MARK = re.compile(r"(?:\s*[\u00b6\u00a7\U0001f517]|\s+#|\s+permalink(?:\s+to\s+this\s+\w+)?)+\s*$", re.I)
_PILCROW_END = re.compile(r"\s*\u00b6\s*$", re.M)


def navigation_line(text: str) -> bool:
    """Is this whole line a site's navigation or page furniture ("Previous topic", "Show Source",
    "Next: Invoking, Previous: Overview, Up: Top [Contents][Index]", "Prev Up Home Next", a "©" line)?"""
    line = squash(text)
    return bool(line) and bool(_NAVIGATION_LINE.match(line))


def navigation_block(lines: list[str]) -> bool:
    """Is this block of lines (a list of links, once the links are gone) navigation: two of its lines
    or more navigation lines, and half of them at least ("index / modules | / next | / Python »")?"""
    lines = [line for line in lines if line.strip()]
    found = sum(navigation_line(line) for line in lines)
    return found >= 2 and found >= 0.5 * len(lines)


def navigation_heading(text: str) -> bool:
    """Does this heading head a side panel of navigation ("Previous topic", "Table of Contents")?"""
    return bool(_NAVIGATION_HEADING.match(squash(_HEADING_MARK.sub("", text)).rstrip(":")))


def without_marks(heading: str) -> str:
    """The heading without the permalink mark a site put after it ("Installing ¶" -> "Installing")."""
    return _HEADING_MARK.sub("", heading).rstrip() or heading


def without_pilcrows(text: str) -> str:
    """Text without the pilcrows that end its lines: a permalink's mark after a definition's signature
    ("os.path.join(path, *paths)¶"), never a word of it."""
    return _PILCROW_END.sub("", text)
