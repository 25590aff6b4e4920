"""Passages: split a document into section-tagged, paragraph-sized passages with exact character offsets.

The rules are ours (no library splits messy web text into cited sections), so they are written here:
- blocks are runs of non-blank lines; a heading is a block of one short line with no closing
  punctuation (`#` lines in Markdown); the first heading is the document's title;
- page furniture is dropped: a short line repeated between sections (a site tag or byline),
  sharing/print links, feedback prompts, empty "Written by" credits;
- a block of several short unpunctuated lines is a table and stays one passage;
- a paragraph over ~1,000 characters is split at sentence boundaries; no passage exceeds 1,500.
Every passage satisfies `document.text[start:end] == passage.text`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import asdict, dataclass

from .documents import Document

SPLIT_ABOVE = 1000  # a paragraph longer than this is split at sentence boundaries
TARGET = 800  # sentences are packed up to about this many characters per passage
MAX_CHARS = 1500  # no passage is longer than this

HEADING_MAX_CHARS = 100
HEADING_MAX_WORDS = 14
SEPARATOR_MAX_WORDS = 3

_BLOCK = re.compile(r"[^\r\n]*\S[^\r\n]*(?:\r?\n[^\r\n]*\S[^\r\n]*)*")
_LINE = re.compile(r"[^\r\n]+")
_MD_HEADING = re.compile(r"#{1,6}\s+(.*?)\s*#*\s*$")
_CLOSING = tuple(".,;:")
# Web-page furniture, written as general patterns of what sites append to articles.
_FURNITURE = re.compile(
    r"""^(?:
        (?:share|tweet|email|print|pin)(?:\s+(?:this|the))?(?:\s+(?:post|article|page|story|link))?
      | (?:share\s+(?:on|via)\s+\w+) | facebook | twitter | x | linkedin | pinterest | whatsapp | reddit | copy\s+link
      | (?:did|was)\s+(?:this|you\s+find\s+this)\s+(?:article|page|post|answer)\s+(?:help(?:\s+you)?|helpful|useful)\??
      | was\s+this\s+helpful\??
      | leave\s+a\s+(?:comment|reply) | \d*\s*comments? | add\s+a\s+comment | post\s+a\s+comment
      | (?:written|reviewed|edited|fact[\s-]?checked|posted|published|updated|photo)(?:\s+(?:by|on))?\s*:?
      | related\s+(?:posts|articles|stories) | advertisement | read\s+more | back\s+to\s+top
      | (?:subscribe|sign\s+up)(?:\s+to\s+(?:our|the)\s+newsletter)?
    )\s*[:|]?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
_ABBREVIATION = re.compile(r"(?:\b[A-Za-z]\.)+$|\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|vs|etc|e\.g|i\.e|No|Gen|Gov|Sen|Rep)\.$")


@dataclass(frozen=True)
class Passage:
    """One citable passage: `text` is exactly `source[start:end]` of document `doc`."""

    id: str
    doc: str
    title: str
    section: str
    ordinal: int
    start: int
    end: int
    text: str

    def embedding_text(self) -> str:
        """What is embedded: the passage with its title and section heading as context."""
        context = self.title if self.section == self.title else f"{self.title} › {self.section}"
        return f"{context}\n{self.text}" if context else self.text

    def lexical_text(self) -> str:
        """What BM25 indexes: the passage under its section heading. The title is left out: it
        recurs in every passage of its document, and its words would lose their weight there."""
        return f"{self.section}\n{self.text}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    text: str


def split_document(document: Document) -> list[Passage]:
    """The document's passages in reading order, each tagged with its section heading."""
    markdown = document.path.lower().endswith(".md")
    blocks = [_Span(m.start(), m.end(), m.group()) for m in _BLOCK.finditer(document.text)]
    separators = _repeated_separators(blocks)
    title = ""
    section = ""
    spans: list[tuple[str, _Span]] = []
    for block in blocks:
        if block.text.strip() in separators:
            continue
        for heading, run in _segments(block, markdown):
            if heading is not None:
                title = title or heading
                section = heading
            elif _is_content(run.text):
                spans.extend((section, piece) for piece in _split_long(run))
    if not title:
        title = document.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    passages: list[Passage] = []
    seen: Counter[str] = Counter()
    for ordinal, (heading, span) in enumerate(spans):
        key = f"{document.path}\0{heading}\0{span.text}"
        seen[key] += 1
        digest = hashlib.sha1(f"{key}\0{seen[key]}".encode()).hexdigest()[:16]
        passages.append(
            Passage(
                id=digest,
                doc=document.path,
                title=title,
                section=heading or title,
                ordinal=ordinal,
                start=span.start,
                end=span.end,
                text=span.text,
            )
        )
    return passages


def split_documents(documents: list[Document]) -> list[Passage]:
    return [p for document in documents for p in split_document(document)]


def _heading(text: str) -> str | None:
    """The heading text if this plain-text block is a heading, else None."""
    if "\n" in text:
        return None
    line = text.strip()
    if len(line) > HEADING_MAX_CHARS or len(line.split()) > HEADING_MAX_WORDS:
        return None
    if line.endswith(_CLOSING) or _FURNITURE.match(line):
        return None
    # A heading starts like a title; a short lowercase line standing alone is a stray tag.
    if not (line[0].isupper() or line[0].isdigit() or line[0] in "\"'\u201c"):
        return None
    return line


def _repeated_separators(blocks: list[_Span]) -> set[str]:
    """Short one-line blocks that recur in the document: site tags and bylines between sections."""
    counts = Counter(
        b.text.strip() for b in blocks
        if "\n" not in b.text and len(b.text.split()) <= SEPARATOR_MAX_WORDS
    )
    return {text for text, n in counts.items() if n >= 2}


def _segments(block: _Span, markdown: bool) -> list[tuple[str | None, _Span | None]]:
    """The block as (heading, None) and (None, content run) items; furniture lines are dropped."""
    heading = None if markdown else _heading(block.text)
    if heading is not None:
        return [(heading, None)]
    items: list[tuple[str | None, _Span | None]] = []
    current: list[re.Match] = []
    for line in _LINE.finditer(block.text):
        stripped = line.group().strip()
        md_heading = _MD_HEADING.fullmatch(stripped) if markdown else None
        if md_heading or _FURNITURE.match(stripped):
            if current:
                items.append((None, _join(block, current)))
            current = []
            if md_heading and md_heading.group(1):
                items.append((md_heading.group(1), None))
        else:
            current.append(line)
    if current:
        items.append((None, _join(block, current)))
    return items


def _join(block: _Span, lines: list[re.Match]) -> _Span:
    return _trimmed(block, lines[0].start(), lines[-1].end())


def _trimmed(span: _Span, a: int, b: int) -> _Span:
    """`span.text[a:b]` without surrounding whitespace, with file offsets that still point at it."""
    chunk = span.text[a:b]
    lead = len(chunk) - len(chunk.lstrip())
    trail = len(chunk) - len(chunk.rstrip())
    return _Span(span.start + a + lead, span.start + b - trail, chunk.strip())


def _is_content(text: str) -> bool:
    """A stray one-line fragment (a tag line with no sentence in it) is not content."""
    if "\n" in text:
        return True
    line = text.strip()
    has_sentence = bool(re.search(r"[.!?:;]\s*[\"'\u201d\u2019)]*$", line)) or len(line.split()) > HEADING_MAX_WORDS
    return has_sentence or bool(re.search(r"\d", line))


def _split_long(span: _Span) -> list[_Span]:
    """Split a long paragraph at sentence ends into pieces of about TARGET, never over MAX_CHARS."""
    if len(span.text) <= SPLIT_ABOVE:
        return [span]
    return _pack(span, _cuts(span.text))


def sentence_spans(passage: Passage) -> list[tuple[int, int]]:
    """The passage's sentences (a table's rows) as (start, end) file offsets, whitespace trimmed."""
    return [(p.start, p.end) for p in _sentence_pieces(_Span(passage.start, passage.end, passage.text))]


def sentences(text: str) -> list[str]:
    """The sentences of `text` (a table's rows), split as passages and highlights are."""
    return [p.text for p in _sentence_pieces(_Span(0, len(text), text))]


def _sentence_pieces(span: _Span) -> list[_Span]:
    bounds = [0, *_cuts(span.text), len(span.text)]
    return [p for p in (_trimmed(span, a, b) for a, b in zip(bounds, bounds[1:])) if p.text]


def _cuts(text: str) -> list[int]:
    """Where the text may be cut: after each row of a table, else at sentence starts."""
    return [m.end() for m in re.finditer(r"\r?\n", text)] if _is_table(text) else _sentence_ends(text)


def _is_table(text: str) -> bool:
    lines = text.splitlines()
    return len(lines) >= 3 and sum(not l.rstrip().endswith(tuple(".!?")) for l in lines) >= 0.7 * len(lines)


def _sentence_ends(text: str) -> list[int]:
    """Offsets where a new sentence starts (after the whitespace following . ! or ?)."""
    cuts = []
    for match in _SENTENCE_END.finditer(text):
        # the abbreviation ends at the full stop: searching its last 40 characters finds it as the
        # whole text before it would (\b still sees the character before them), without rescanning
        end = match.start() + 1
        if _ABBREVIATION.search(text, max(0, end - 40), end):
            continue
        cuts.append(match.end())
    return cuts


def _pack(span: _Span, cuts: list[int]) -> list[_Span]:
    """Greedy packing of the text between cut points into pieces near TARGET characters."""
    text = span.text
    bounds = [0, *[c for c in cuts if 0 < c < len(text)], len(text)]
    pieces: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(bounds)):
        end = bounds[i]
        if end - start > TARGET and bounds[i - 1] > start:
            pieces.append((start, bounds[i - 1]))
            start = bounds[i - 1]
    pieces.append((start, len(text)))
    out = [_trimmed(span, a2, b2) for a, b in pieces for a2, b2 in _hard_wrap(text, a, b)]
    return [s for s in out if s.text]


def _hard_wrap(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A single sentence over MAX_CHARS is cut at whitespace."""
    pieces = []
    while end - start > MAX_CHARS:
        cut = text.rfind(" ", start, start + MAX_CHARS)
        if cut <= start:
            cut = start + MAX_CHARS
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces
