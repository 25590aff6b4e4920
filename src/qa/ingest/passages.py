"""Passages: split a document into section-tagged, paragraph-sized passages with exact character offsets.

The rules are ours (no library splits messy web text into cited sections), so they are written here:
- blocks are runs of non-blank lines; a heading is a block of one short line with no closing
  punctuation (`#` lines in Markdown); the first heading is the document's title;
- page furniture is dropped: a short line repeated between sections (a site tag or byline),
  sharing/print links, feedback prompts, empty "Written by" credits;
- a block of several short unpunctuated lines is a table and stays one passage;
- a paragraph over ~1,000 characters is split at sentence boundaries; no passage exceeds 1,500;
- a long code block, listing or transcript (the reader's `Document.code`, a Markdown fence) is a
  passage of its own; a sentence that runs on through one stays whole (code_blocks.through_code).
Every passage satisfies `document.text[start:end] == passage.text`.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections import Counter
from dataclasses import asdict, dataclass

from .code_blocks import blocks_around, cut_at_code, markdown_code, through_code
from .document import Document
from .furniture import navigation_block, navigation_line

SPLIT_ABOVE = 1000  # a paragraph longer than this is split at sentence boundaries
TARGET = 800  # sentences are packed up to about this many characters per passage
MAX_CHARS = 1500  # no passage is longer than this
SHORT = 120  # a PDF paragraph shorter than this is joined with its neighbour in the section ...
JOIN_MAX = 600  # ... into a passage of up to this many characters
# An HTML or Word section's paragraphs are packed into passages of up to SPLIT_ABOVE characters (a web
# page's paragraphs are short: one passage each left the unseen and mixed sets' answers split from
# their context; packed, hybrid Hit@1 0.438 -> 0.531 and 0.606 -> 0.697). Not a PDF's: packing man
# pages' option paragraphs lost there (manuals Hit@1 0.545 -> 0.455).
PACK_MAX = SPLIT_ABOVE
# A code block of this many characters or more is a passage of its own, a shorter one ("Run:" / `make
# install`) a paragraph among the others (eval/README.md, "Passage cutting for any writer (issue #34)").
CODE_APART = 400

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
_ENDS_SENTENCE = re.compile(r"[.!?:;][\"'\u201d\u2019)\]]*$")
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
    page: int | None = None  # 1-based, for a paged document (PDF): the page the passage starts on

    def embedding_text(self) -> str:
        """What is embedded: the passage with its title and section heading as context."""
        context = self.title if self.section == self.title else f"{self.title} › {self.section}"
        return f"{context}\n{self.text}" if context else self.text

    def lexical_text(self) -> str:
        """What BM25 indexes: the passage under its section heading. The title is left out: it
        recurs in every passage of its document, and its words would lose their weight there."""
        return f"{self.section}\n{self.text}"

    def citation(self) -> str:
        return cite(self.doc, self.section, self.start, self.end, self.page)

    def to_dict(self) -> dict:
        return asdict(self)


def cite(doc: str, section: str, start: int, end: int, page: int | None = None) -> str:
    """`doc › section (p. N, chars start–end)` as `qa ask` and /passages show a passage (no page: unpaged)."""
    where = f"p. {page}, chars {start}–{end}" if page is not None else f"chars {start}–{end}"
    return f"{doc} › {section} ({where})"


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    text: str


def split_document(document: Document) -> list[Passage]:
    """The document's passages in reading order, each tagged with its section heading (and page)."""
    if document.kind in ("text", "markdown"):
        title, spans = _text_spans(document)
    else:
        title, spans = _structured_spans(document)
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
                page=page_of(document.pages, span.start),
            )
        )
    return passages


def _text_spans(document: Document) -> tuple[str, list[tuple[str, _Span]]]:
    """Title and (section, span) pieces of a plain-text or Markdown file: headings found by their look."""
    markdown = document.kind == "markdown" or document.path.lower().endswith(".md")
    code = markdown_code(document.text) if markdown else []
    blocks = [(_Span(a, b, document.text[a:b]), is_code) for a, b, is_code in blocks_around(document.text, code, _BLOCK)]
    separators = _repeated_separators([b for b, is_code in blocks if not is_code])
    title, section, spans = "", "", []
    for block, is_code in blocks:
        if is_code:  # never a heading, never furniture ("# build it" and "print" are code there)
            spans.extend((section, piece) for piece in _split_long(block))
            continue
        if block.text.strip() in separators:
            continue
        for heading, run in _segments(block, markdown):
            if heading is not None:
                title = title or heading
                section = heading
            elif _is_content(run.text):
                spans.extend((section, piece) for piece in _split_long(run))
    return title, spans


def _structured_spans(document: Document) -> tuple[str, list[tuple[str, _Span]]]:
    """Title and (section, span) pieces of an extracted document (PDF, HTML, Word): its reader found the
    sections and dropped the furniture, so every paragraph but a heading line is content. A paragraph
    is cut where a page starts unless a sentence runs over the break."""
    sections = sorted(document.sections, key=lambda s: s.start)
    starts = [s.start for s in sections]
    heading_lines = set(starts)
    title = next((s.heading for s in sections if s.level == 1), sections[0].heading if sections else "")
    page_starts = [start for start, _ in (document.pages or ())[1:]]
    code = [(a, b) for a, b in document.code if b - a >= CODE_APART]
    spans: list[tuple[int, str, _Span, bool]] = []
    for match in _BLOCK.finditer(document.text):
        block = _Span(match.start(), match.end(), match.group())
        if block.start in heading_lines:  # the heading's own line, and anything the reader ran on after it
            newline = block.text.find("\n")
            if newline < 0:
                continue
            block = _trimmed(block, newline, len(block.text))
        at = bisect.bisect_right(starts, block.start) - 1
        section = sections[at].heading if at >= 0 else title
        for a, b, is_code in cut_at_code(block.start, block.end, code):
            part = _trimmed(block, a - block.start, b - block.start)
            for run in [part] if is_code else [run for _, run in _segments(part, False, False, document.code)]:
                for piece in _at_page_starts(run, page_starts):
                    spans.extend((at, section, p, is_code) for p in _split_long(piece))
    spans = [(at, section, _Span(a, b, document.text[a:b]), is_code) for (at, section), a, b, is_code
             in through_code([((at, s), p.start, p.end, c) for at, s, p, c in spans], document.text, _ENDS_SENTENCE)]
    if document.kind == "pdf":
        return title, _join_paragraphs(document, spans, SHORT, JOIN_MAX)
    return title, _join_paragraphs(document, spans, None, PACK_MAX)


def _join_paragraphs(document: Document, spans: list[tuple[int, str, _Span, bool]], short: int | None,
                     limit: int) -> list[tuple[str, _Span]]:
    """Consecutive paragraphs of one section and one page as one passage while the whole stays under
    `limit` and, given `short`, one of the two is shorter than it (a PDF's argument lines, "Returns:"
    lines, labels). Packing (no `short`), a label that would end a passage (a definition list's term)
    starts the next one instead, with what it introduces. Code joins code, never prose."""
    out: list[tuple[int, str, _Span, int | None, bool]] = []
    label: tuple[int, int] | None = None  # the last passage's closing label: (its start, the end before it)
    for at, section, span, is_code in spans:
        page = page_of(document.pages, span.start)
        if out:
            p_at, p_section, p_span, p_page, p_code = out[-1]
            same_place = p_at == at and p_page == page and p_code == is_code \
                and not document.text[p_span.end:span.start].strip()  # (furniture left out between them)
            joins = short is None or min(len(p_span.text), len(span.text)) < short
            if same_place and joins and span.end - p_span.start <= limit:
                out[-1] = (at, section, _Span(p_span.start, span.end, document.text[p_span.start:span.end]), page,
                           is_code)
                label = (span.start, p_span.end) if short is None and _is_label(span.text) else None
                continue
            if label is not None and same_place and span.end - label[0] <= limit:
                out[-1] = (p_at, p_section, _Span(p_span.start, label[1], document.text[p_span.start:label[1]]),
                           p_page, p_code)
                span = _Span(label[0], span.end, document.text[label[0]:span.end])
        out.append((at, section, span, page, is_code))
        label = None
    return [(section, span) for _, section, span, _, _ in out]


def _is_label(text: str) -> bool:
    """A short line that names what follows rather than saying something (`inputs`, `Returns`)."""
    return len(text) < SHORT and "\n" not in text and not _ENDS_SENTENCE.search(text.rstrip(":"))


def _at_page_starts(span: _Span, page_starts: list[int]) -> list[_Span]:
    """`span` cut at each page start inside it that falls between sentences."""
    pieces, a = [], 0
    for start in page_starts:
        cut = start - span.start
        if 0 < cut < len(span.text) and _ENDS_SENTENCE.search(span.text[a:cut].rstrip()):
            pieces.append(_trimmed(span, a, cut))
            a = cut
    pieces.append(_trimmed(span, a, len(span.text)))
    return [p for p in pieces if p.text]


def page_of(pages: tuple[tuple[int, int], ...] | None, offset: int) -> int | None:
    """The 1-based page holding `offset` of a paged document's text, or None for an unpaged one."""
    if not pages:
        return None
    return max(1, bisect.bisect_right([start for start, _ in pages], offset))


def split_documents(documents: list[Document]) -> list[Passage]:
    return [p for document in documents for p in split_document(document)]


def _heading(text: str) -> str | None:
    """The heading text if this plain-text block is a heading, else None."""
    if "\n" in text:
        return None
    line = text.strip()
    if len(line) > HEADING_MAX_CHARS or len(line.split()) > HEADING_MAX_WORDS:
        return None
    if line.endswith(_CLOSING) or _FURNITURE.match(line) or navigation_line(line):
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


def _segments(block: _Span, markdown: bool, headings: bool = True,
              code: tuple[tuple[int, int], ...] = ()) -> list[tuple[str | None, _Span | None]]:
    """The block as (heading, None) and (None, content run) items; furniture lines are dropped, never in
    `code` (a diagram's "|" line). With `headings` false (a reader found them) no line is a heading."""
    heading = _heading(block.text) if headings and not markdown else None
    if heading is not None:
        return [(heading, None)]
    items: list[tuple[str | None, _Span | None]] = []
    current: list[re.Match] = []
    inside = [(a - block.start, b - block.start) for a, b in code if a < block.end and b > block.start]
    if not inside and navigation_block(block.text.splitlines()):
        return items
    for line in _LINE.finditer(block.text):
        stripped = line.group().strip()
        md_heading = _MD_HEADING.fullmatch(stripped) if markdown and headings else None
        kept = any(a <= line.start() < b for a, b in inside)
        if not kept and (md_heading or _FURNITURE.match(stripped) or navigation_line(stripped)):
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
    return [m.end() for m in re.finditer(r"\r?\n", text)] if is_table(text) else _sentence_ends(text)


def is_table(text: str) -> bool:
    """A table (label–value rows): three lines or more, at least 70% of them not ending a sentence."""
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
