"""Documentation sites' furniture (Sphinx, Texinfo, DocBook, Doxygen) left out of web pages and Word files."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.ingest.docx import read_docx
from qa.ingest.furniture import navigation_line, without_marks
from qa.ingest.html import read_html
from qa.ingest.passages import split_document

BODY = ("The json module can serialize Python objects to text and read them back; dump writes to a file "
        "and dumps returns a string.")
INTRO = "Only the list under a plain Contents paragraph is the page's contents; this sentence is text."
SIGNATURE = "json.dumps(obj, *, skipkeys=False, ensure_ascii=True)"
DEFINITION = "Serialize obj to a JSON formatted string using this conversion table."
FURNITURE_WORDS = ["\u00bb", "Previous topic", "Next topic", "Show Source", "Report a Bug", "Table of Contents",
                   "\u00a9 Copyright", "[Contents]", "Next: ", "\u00b6", "Created using"]


def _warn(message):
    raise AssertionError(f"unexpected warning: {message}")


def _assert_clean(document):
    passages = split_document(document)
    assert any(BODY in p.text for p in passages)
    assert any(SIGNATURE in p.text and DEFINITION in p.text for p in passages)
    for p in passages:
        for word in FURNITURE_WORDS:
            assert word not in p.text, (word, p.text)
        assert "\u00b6" not in p.section
    return passages


def _sphinx_docx(path: Path) -> Path:
    """A Sphinx page as a Word file made from it keeps it: "¶" after headings and signatures, the
    sidebar's headed panels, the related bar, the footer, and a Texinfo node's navigation line."""
    import docx

    d = docx.Document()
    d.add_paragraph("Next: Encoders, Previous: Basic Usage, Up: json   [Contents][Index]")
    d.add_heading("json \u2014 JSON encoder and decoder\u00b6", 1)
    d.add_paragraph(BODY)
    for item in ("index", "modules |", "next |", "previous |", "Python \u00bb", "json \u2014 JSON", "|"):
        d.add_paragraph(item, style="List Bullet")  # the related bar, its links gone, amid the text
    d.add_paragraph(BODY.replace("json", "pickle"))
    d.add_paragraph("Contents")  # a page's own table of contents, its title set as a plain paragraph
    for item in ("Basic Usage", "Encoders and Decoders"):
        d.add_paragraph(item, style="List Bullet")
    d.add_paragraph(INTRO)  # the page's text goes on before its next heading
    d.add_heading("Basic Usage\u00b6", 2)
    d.add_paragraph(SIGNATURE + "\u00b6")
    d.add_paragraph(DEFINITION)
    d.add_heading("Table of Contents", 3)
    for item in ("json \u2014 JSON encoder and decoder", "Basic Usage", "Encoders and Decoders"):
        d.add_paragraph(item, style="List Bullet")
    d.add_heading("Previous topic", 4)
    d.add_paragraph("email.iterators: Iterators")
    d.add_heading("Next topic", 4)
    d.add_paragraph("mailbox \u2014 Manipulate mailboxes in various formats")
    d.add_heading("This Page", 3)
    d.add_paragraph("Report a Bug", style="List Bullet")
    d.add_paragraph("Show Source", style="List Bullet")
    d.add_paragraph("index modules | next | previous |")
    for step in ("Python \u00bb", "3.12.0 Documentation \u00bb", "The Python Standard Library \u00bb"):
        d.add_paragraph(step, style="List Bullet")
    d.add_paragraph("\u00a9 Copyright 2001-2024, Python Software Foundation.")
    d.add_paragraph("Created using Sphinx 7.2.6.")
    d.save(path)
    return path


def test_a_word_file_made_from_a_sphinx_page_has_no_furniture_passage(tmp_path):
    document = read_docx(_sphinx_docx(tmp_path / "json.docx"), "json.docx", _warn)
    passages = _assert_clean(document)
    assert [s.heading for s in document.sections] == ["json \u2014 JSON encoder and decoder", "Basic Usage"]
    assert "mailbox" not in document.text and "email.iterators" not in document.text
    assert not any("modules" in p.text or "Encoders and Decoders" in p.text for p in passages)
    assert any(INTRO in p.text for p in passages)
    assert len(passages) == 3  # the related bar between two paragraphs does not get packed in with them


SPHINX_HTML = f"""<html><head><title>json</title></head><body>
<div class="related"><ul><li><a href="genindex.html">index</a></li><li><a href="py-modindex.html">modules</a> |</li></ul></div>
<div class="document"><div class="body">
<p class="texinfo-nav">Next: <a href="e.html">Encoders</a>, Previous: <a href="b.html">Basic Usage</a>, Up: <a href="j.html">json</a> &nbsp; [<a href="c.html">Contents</a>][<a href="i.html">Index</a>]</p>
<h1>json \u2014 JSON encoder and decoder<a class="headerlink" href="#json" title="Permalink to this heading">\u00b6</a></h1>
<p>{BODY}</p>
<dl class="py function"><dt class="sig" id="json.dumps"><span>{SIGNATURE}</span><a class="headerlink" href="#json.dumps" title="Permalink to this definition">\u00b6</a></dt>
<dd><p>{DEFINITION}</p></dd></dl>
</div></div>
<div class="sphinxsidebarwrapper"><h3>Previous topic</h3><p><a href="email.html">email.iterators: Iterators</a></p>
<h3>This Page</h3><ul><li><a href="bugs.html">Report a Bug</a></li><li><a href="_sources/json.rst.txt">Show Source</a></li></ul></div>
<div class="footer">\u00a9 Copyright 2001-2024. Created using Sphinx 7.2.6.</div>
</body></html>"""


def test_a_sphinx_web_page_has_no_furniture_passage(tmp_path):
    path = tmp_path / "json.html"
    path.write_text(SPHINX_HTML, encoding="utf-8")
    _assert_clean(read_html(path, "json.html", _warn))


@pytest.mark.parametrize("line", [
    "Previous topic", "Next topic", "Show Source", "Report a Bug", "Table of Contents", "This Page",
    "\u00a9 Copyright 2001-2024, Python Software Foundation.", "Created using Sphinx 7.2.6.",
    "Next: Invoking bc, Previous: Introduction, Up: Top   [Contents][Index]", "Next: Introduction [Contents]",
    "Prev Up Home Next", "Prev | Up | Next", "index modules | next | previous |", "[Contents][Index]",
    "Permalink to this headline", "Generated by doxygen 1.9.8", "The Python Standard Library \u00bb",
])
def test_site_navigation_lines_are_furniture(line):
    assert navigation_line(line)


@pytest.mark.parametrize("line", [
    "next | Selects a character set appropriate for NeXT computers.", "HOME Name of the user's home directory.",
    "Next, run make.", "Up: the top of the tree, where the root is.", "Contents of the file are read first.",
    "index", "next", "Copyright 1998-2000 Free Software Foundation, Inc.", "Report a bug to the maintainers by mail.",
])
def test_content_lines_that_start_like_navigation_are_kept(line):
    assert not navigation_line(line)


@pytest.mark.parametrize("heading, bare", [
    ("Installing \u00b6", "Installing"), ("Installing\u00b6", "Installing"), ("Options #", "Options"),
    ("Learn C#", "Learn C#"), ("Setup \u00a7", "Setup"), ("Intro Permalink to this heading", "Intro"),
])
def test_heading_marks_go(heading, bare):
    assert without_marks(heading) == bare
