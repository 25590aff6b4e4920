"""Fuzzed readers: real documents made by real writers from random shapes (reportlab PDFs of 5-30 pt
type, odd spacing, 1-3 columns, tables, rotated, empty and image-only pages; python-docx files;
random and malformed nested HTML). Every file comes back as a Document or one clean "skipped"
warning, never an exception, and never through a bug in qa's own code."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.ingest.files import read_document

# ~60 s in all on a loaded 2-core machine; derandomized, so a run is repeatable and a failure stays found
def _fuzz(examples: int):
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

WORDS = st.lists(st.sampled_from(["the", "widget", "Controller", "über", "naïve", "x=1;", "--flag", "3.14", "(see",
                                  "§2", "a-", "b", "ﬁle", "—", "日本語", "Ⅳ.", "•", "1.", "http://x.org/a", "   "]),
                 min_size=1, max_size=14).map(" ".join)


def _check(path: Path) -> None:
    """The property: a Document whose offsets hold, or None after exactly one "skipped" warning; no
    warning blames qa's own code."""
    warnings: list[str] = []
    document = read_document(path, path.name, warnings.append)
    assert not [w for w in warnings if "qa bug" in w], warnings
    if document is None:
        assert len(warnings) == 1 and warnings[0].startswith(f"skipped {path.name}: "), warnings
        return
    assert document.text and all(w.startswith(f"{path.name}: ") for w in warnings), warnings
    for section in document.sections:
        assert 0 <= section.start <= section.end <= len(document.text)
    if document.pages is not None:
        assert all(0 <= a <= b <= len(document.text) for a, b in document.pages)
        assert [a for a, _ in document.pages] == sorted(a for a, _ in document.pages)


PAGE = st.fixed_dictionaries({
    "kind": st.sampled_from(["text", "text", "text", "table", "empty", "image", "rotated"]),
    "size": st.floats(5, 30),
    "spacing": st.floats(0.6, 3.0),  # baseline gap in type sizes: overlapping to double-spaced
    "columns": st.integers(1, 3),
    "lines": st.lists(WORDS, min_size=1, max_size=40),
    "jitter": st.lists(st.floats(-4, 12), min_size=1, max_size=40),  # odd extra gaps, cycled
    "font": st.sampled_from(["Helvetica", "Times-Roman", "Courier", "Helvetica-Bold"]),
})


def _pdf(path: Path, pages: list[dict], rotate: int) -> Path:
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas
    from PIL import Image

    doc = canvas.Canvas(str(path))
    for page in pages:
        if page["kind"] == "rotated":
            doc.setPageRotation(rotate)
            doc.translate(500, 100)
            doc.rotate(90)
        size, gap = page["size"], page["size"] * page["spacing"]
        if page["kind"] == "image":  # a page that is a picture only: no text layer
            doc.drawImage(ImageReader(Image.new("RGB", (40, 30), (200, 90, 30))), 72, 400, 300, 200)
        elif page["kind"] != "empty":
            width = 468 / page["columns"]
            y, column = 760.0, 0
            for k, line in enumerate(page["lines"]):
                doc.setFont(page["font"], size)
                if page["kind"] == "table":  # cells set apart by wide gaps, as a table's rows
                    for c, cell in enumerate(line.split()[:4]):
                        doc.drawString(72 + c * 120, y, cell)
                else:
                    doc.drawString(72 + column * width, y, line[: int(width / (size * 0.5)) + 1])
                y -= gap + page["jitter"][k % len(page["jitter"])]
                if y < 60:
                    y, column = 760.0, column + 1
                    if column >= page["columns"]:
                        break
        doc.showPage()
    doc.save()
    return path


@_fuzz(200)
@given(pages=st.lists(PAGE, min_size=1, max_size=4), rotate=st.sampled_from([0, 90, 180, 270]))
def test_any_pdf_reportlab_writes_is_read_or_cleanly_skipped(pages, rotate):
    with tempfile.TemporaryDirectory() as folder:
        _check(_pdf(Path(folder) / "fuzz.pdf", pages, rotate))


BLOCK = st.one_of(
    st.tuples(st.sampled_from(["Normal", "Title", "Heading 1", "Heading 2", "Heading 3", "List Bullet",
                               "List Number", "Quote"]), WORDS),
    st.tuples(st.just("table"), st.lists(st.lists(WORDS, min_size=1, max_size=4), min_size=1, max_size=4)),
    st.tuples(st.just("empty"), st.just("")),
)


@_fuzz(80)
@given(blocks=st.lists(BLOCK, min_size=0, max_size=12), title=st.one_of(st.just(""), WORDS))
def test_any_docx_python_docx_writes_is_read_or_cleanly_skipped(blocks, title):
    import docx

    document = docx.Document()
    document.core_properties.title = title
    for style, content in blocks:
        if style == "table":
            width = max(len(row) for row in content)
            table = document.add_table(rows=len(content), cols=width)
            for r, row in enumerate(content):
                for c, text in enumerate(row):
                    table.cell(r, c).text = text
            if len(content) > 1 and width > 1:
                table.cell(0, 0).merge(table.cell(1, 1))
        elif style == "empty":
            document.add_paragraph("")
        else:
            document.add_paragraph(content, style=style)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.docx"
        document.save(str(path))
        _check(path)


TAGS = ["div", "p", "span", "h1", "h2", "h3", "ul", "ol", "li", "dl", "dt", "dd", "table", "tr", "td", "th",
        "pre", "a", "b", "main", "article", "nav", "footer", "header", "section", "br", "hr", "script", "style",
        "blockquote", "aside", "form", "img", "code", "title"]
ATTRS = st.sampled_from(["", ' class="nav"', ' id="content"', ' role="main"', ' hidden', ' style="display:none"',
                         ' class="sidebar widget"', ' aria-hidden="true"', ' href="#x"', ' class="entry-content"'])
NODE = st.recursive(
    WORDS | st.sampled_from(["&amp;", "&nbsp;", "&#x41;", "&bogus;", "<", ">", "<!-- c -->", "<!DOCTYPE html>", "\x00"]),
    lambda inner: st.builds(
        lambda tag, attrs, children, close: f"<{tag}{attrs}>{''.join(children)}" + (f"</{tag}>" if close else ""),
        st.sampled_from(TAGS), ATTRS, st.lists(inner, max_size=4), st.booleans()),
    max_leaves=30,
)


@_fuzz(300)
@given(body=st.lists(NODE, max_size=6), wrap=st.booleans(), charset=st.sampled_from(["", "utf-8", "latin-1", "bogus"]),
       depth=st.sampled_from([0, 0, 0, 600]))
def test_any_html_random_or_malformed_is_read_or_cleanly_skipped(body, wrap, charset, depth):
    html = "".join(body)
    html = "<div>" * depth + html  # past the depth that sends a page to the plain path
    if wrap:
        meta = f'<meta charset="{charset}">' if charset else ""
        html = f"<html><head>{meta}<title>Fuzz</title></head><body>{html}</body></html>"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.html"
        path.write_bytes(html.encode("utf-8", "surrogatepass"))
        _check(path)
