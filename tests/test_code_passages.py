"""Code blocks, listings and transcripts are never packed with prose into one passage, in every format."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.ingest import passages as P
from qa.ingest.code_blocks import cut_at_code, markdown_code
from qa.ingest.docx import read_docx
from qa.ingest.files import read_documents
from qa.ingest.html import read_html
from qa.ingest.passages import split_document
from qa.ingest.pdf import read_pdf

INTRO = "The package is built with the usual tools and needs a C compiler and make on the search path."
RUN = "To build and install it, run:"
CODE = ["./configure --prefix=/usr", "make -j4", "make install"]  # short: read as a paragraph (CODE_APART)
# A listing as long as a `dir(sys)` dump: a passage of its own.
LISTING = [f"['__breakpointhook__', '__displayhook__', '__doc__', 'api_version_{n}', 'argv_{n}', 'byteorder']"
           for n in range(8)]
LISTED = "The names a module defines are listed by dir(), here those of sys:"
AFTER = "Every option of configure is listed in the file INSTALL, with its default value."
# A sentence cut by a code line: neither half says both what to set and what it does.
BEFORE_INLINE = "The default prefix is /usr/local, which you change with"
INLINE = "--prefix=DIR"
AFTER_INLINE = "before you run make; everything then goes under DIR."


def _warn(message):
    raise AssertionError(f"unexpected warning: {message}")


def _passages(document):
    passages = split_document(document)
    for p in passages:
        assert document.text[p.start:p.end] == p.text
    return [p.text for p in passages]


def _holding(texts, fragment):
    found = [t for t in texts if fragment in t]
    assert len(found) == 1, (fragment, texts)
    return found[0]


def _assert_code_apart(texts):
    listing = _holding(texts, "api_version_3")
    assert listing == "\n".join(LISTING)  # the long listing alone, not packed with the prose around it
    assert RUN in _holding(texts, "make install")  # a short command goes with the sentence introducing it


def _assert_sentence_whole(document, monkeypatch):
    """With every code block apart, a sentence cut by a code line still stays whole."""
    monkeypatch.setattr(P, "CODE_APART", 0)
    texts = _passages(document)
    assert "\n".join(CODE) in _holding(texts, "make install")
    whole = _holding(texts, INLINE)
    assert BEFORE_INLINE in whole and AFTER_INLINE in whole


HTML = f"""<html><body><h1>Widget</h1><h2>Building</h2>
<p>{INTRO}</p><p>{RUN}</p><pre>{chr(10).join(CODE)}</pre><p>{AFTER}</p>
<p>{LISTED}</p><pre>{chr(10).join(LISTING)}</pre><p>{AFTER}</p>
<p>{BEFORE_INLINE}</p><pre>{INLINE}</pre><p>{AFTER_INLINE}</p></body></html>"""


def test_a_web_page_s_long_pre_block_is_a_passage_apart_from_its_prose(tmp_path, monkeypatch):
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    document = read_html(path, "page.html", _warn)
    code = "\n".join(CODE)
    start = document.text.index(code)
    assert (start, start + len(code)) in document.code
    _assert_code_apart(_passages(document))
    _assert_sentence_whole(document, monkeypatch)


def _docx(path: Path, code_style: bool) -> Path:
    import docx
    from docx.enum.style import WD_STYLE_TYPE

    d = docx.Document()
    d.add_heading("Widget", 0)
    d.add_heading("Building", 1)
    if code_style:
        d.styles.add_style("Source Code", WD_STYLE_TYPE.PARAGRAPH)

    def code(line):
        if code_style:
            d.add_paragraph(line, style="Source Code")
        else:
            d.add_paragraph().add_run(line).font.name = "Courier New"

    d.add_paragraph(INTRO)
    d.add_paragraph(RUN)
    for line in CODE:  # Word writers put a code block's lines in paragraphs of their own
        code(line)
    d.add_paragraph(AFTER)
    d.add_paragraph(LISTED)
    for line in LISTING:
        code(line)
    d.add_paragraph(AFTER)
    d.add_paragraph(BEFORE_INLINE)
    code(INLINE)
    d.add_paragraph(AFTER_INLINE)
    d.save(path)
    return path


@pytest.mark.parametrize("code_style", [True, False], ids=["code style", "monospace runs"])
def test_a_word_file_s_code_paragraphs_are_one_block_apart_from_its_prose(tmp_path, code_style, monkeypatch):
    document = read_docx(_docx(tmp_path / "guide.docx", code_style), "guide.docx", _warn)
    assert "\n".join(CODE) in document.text  # its lines as one block, no blank lines between them
    _assert_code_apart(_passages(document))
    _assert_sentence_whole(document, monkeypatch)


def test_a_word_paragraph_in_a_proportional_font_is_not_code(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("Widget", 0)
    d.add_paragraph().add_run(INTRO).font.name = "Times New Roman"
    d.save(tmp_path / "plain.docx")
    assert read_docx(tmp_path / "plain.docx", "plain.docx", _warn).code == ()


def _pdf(path: Path, lines: list[tuple[str, str]]) -> Path:
    """Prose in Times, code in Courier, one line each, at the spacing a manual sets them."""
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=(595, 842))
    c.setFont("Helvetica-Bold", 16)
    c.drawString(72, 770, "Building Widget")
    y = 740
    for font, text in lines:
        c.setFont(font, 7 if text in LISTING else 10)
        c.drawString(72 if font == "Times-Roman" else 90, y, text)
        y -= 12
    c.save()
    return path


def test_a_pdf_manual_s_syntax_lines_keep_their_lines_and_are_code(tmp_path):
    # A manual's syntax lines set tight under their label, prose after them at the same spacing
    # (gnuplot's "Syntax: set logscale <axes> {<base>} unset logscale ... where <axes> may be ...").
    syntax = ["set logscale <axes> {<base>}", "unset logscale <axes>", "show logscale"]
    words = ("where <axes> may be any combination of x, y and z, and <base> is the base of the scale, ten when "
             "none is given.").split()
    prose = [" ".join(words[:12]), " ".join(words[12:])]
    lines = [("Times-Roman", INTRO), ("Times-Roman", "Syntax:")] + [("Courier", s) for s in syntax] \
        + [("Times-Roman", p) for p in prose] + [("Times-Roman", LISTED)] + [("Courier", s) for s in LISTING]
    document = read_pdf(_pdf(tmp_path / "manual.pdf", lines), "manual.pdf", _warn)
    syntax_text = "\n".join(syntax)
    assert syntax_text in document.text  # each syntax line its own line, the prose after on a line of its own
    assert document.text[document.text.index(syntax_text) + len(syntax_text)] == "\n"
    start = document.text.index(syntax_text)
    assert (start, start + len(syntax_text)) in document.code
    assert _holding(_passages(document), "api_version_3") == "\n".join(LISTING)


def test_markdown_fences_are_passages_of_their_own_and_never_headings():
    text = (f"# Widget\n\n{INTRO}\n{RUN}\n```sh\n# build it\n{CODE[0]}\n\n{CODE[1]}\nprint\n```\n{AFTER}\n\n"
            f"    indented code line\n    another one\n\nA closing paragraph.\n")
    document = read_documents_from_text(text)
    passages = split_document(document)
    fence = next(p for p in passages if CODE[0] in p.text)
    assert CODE[1] in fence.text and "print" in fence.text and INTRO not in fence.text and AFTER not in fence.text
    assert {p.section for p in passages} == {"Widget"}  # "# build it" is a comment, not a heading
    assert any(p.text == "    indented code line\n    another one".strip() for p in passages)


def read_documents_from_text(text: str):
    from qa.ingest.document import Document

    return Document("guide.md", text, "x", kind="markdown")


def test_a_code_block_shorter_than_code_apart_is_read_as_a_paragraph(tmp_path, monkeypatch):
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    document = read_html(path, "page.html", _warn)
    short, long = len("\n".join(CODE)), len("\n".join(CODE)) + 1
    monkeypatch.setattr(P, "CODE_APART", long)
    assert RUN in _holding(_passages(document), "make install")  # packed with the prose around it
    monkeypatch.setattr(P, "CODE_APART", short)
    assert _holding(_passages(document), "make install") == "\n".join(CODE)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 40)), max_size=6), st.integers(0, 250),
       st.integers(0, 250))
def test_cut_at_code_covers_the_range_in_order(raw, start, length):
    spans, at = [], 0
    for gap, size in raw:
        spans.append((at + gap, at + gap + size))
        at += gap + size
    end = start + length
    pieces = cut_at_code(start, end, spans)
    assert [a for a, _, _ in pieces[:1]] == ([start] if end > start else [])
    assert all(b == a2 for (_, b, _), (a2, _, _) in zip(pieces, pieces[1:]))
    assert all(a < b for a, b, _ in pieces)
    for a, b, code in pieces:
        assert code == any(x <= a and b <= y for x, y in spans)


def test_markdown_code_finds_an_unclosed_fence_to_the_end():
    text = "Intro.\n\n```\ncode\n"
    assert markdown_code(text) == [(8, len(text.rstrip()))]


def test_an_index_keeps_a_document_s_code_blocks_for_its_next_build(tmp_path):
    from qa.store.documents import extracted_documents, write_documents

    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    document = read_html(path, "page.html", _warn)
    (tmp_path / "index").mkdir()
    write_documents(tmp_path / "index", [document])
    again = extracted_documents(tmp_path / "index")["page.html"]
    assert again.code == document.code != ()
    assert split_document(again) == split_document(document)
