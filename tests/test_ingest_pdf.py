"""The PDF reader on real PDFs written by reportlab: sections, pages, furniture, hyphens, bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ingest_files as files
from qa.ingest import reader
from qa.ingest.furniture import join_hyphens, plain
from qa.ingest.pdf import read_pdf

SECTIONS = [
    ("Widget Controller Guide", 1),
    ("1. Introduction", 2),
    ("2. Installing", 2),
    ("2.1. Requirements", 3),
    ("2.4. The glob files", 3),
    ("3. Operating", 2),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pdf")


@pytest.fixture(scope="module")
def manual(folder):
    return read_pdf(files.write_manual_pdf(folder / "manual.pdf"), "manual.pdf", _no_warning)


def _no_warning(message):
    raise AssertionError(f"unexpected warning: {message}")


def _read(path: Path):
    warnings: list[str] = []
    return read_pdf(path, path.name, warnings.append), warnings


def test_outline_gives_the_sections_with_their_levels(manual):
    assert files.sections(manual) == SECTIONS
    assert manual.kind == "pdf"
    by_name = {s.heading: s for s in manual.sections}
    req = by_name["2.1. Requirements"]
    assert manual.text[req.start:req.end] == (
        "2.1. Requirements\n\nComponent | Version | Notes\nPython | 3.11 | required\nSQLite | 3.40 | bundled"
    )
    glob = by_name["2.4. The glob files"]
    # A list set tight (no space above it) stays in the paragraph above, an item a line, each item's
    # wrapped lines joined.
    assert manual.text[glob.start:glob.end] == "2.4. The glob files\n\n" + files.GLOB + "\n" + "\n".join(
        "\u2022 " + item for item in files.ITEMS
    )
    install = by_name["2. Installing"]
    assert install.start < req.start and glob.end == install.end  # a chapter holds its subsections
    assert by_name["Widget Controller Guide"].end == len(manual.text)


def test_without_an_outline_numbered_and_large_headings_give_the_same_sections(folder, manual):
    doc = read_pdf(files.write_manual_pdf(folder / "plain.pdf", outline=False), "plain.pdf", _no_warning)
    assert files.sections(doc) == SECTIONS
    assert doc.sections == manual.sections and doc.text == manual.text


def test_pages_cover_the_text_and_paragraphs_stay_on_their_page(manual):
    pages = manual.pages
    assert len(pages) == 3
    assert manual.text[pages[0][0]:].startswith("Widget Controller Guide")
    assert manual.text[pages[0][0]:pages[0][1]].endswith("never the files with that name.")
    assert manual.text[pages[1][0]:].startswith("3. Operating")
    assert pages[-1][1] == len(manual.text)
    # The one paragraph that runs over a page break is cut there mid-sentence, by a single line break.
    assert manual.text[pages[1][1]:pages[2][0]] == "\n"
    assert manual.text[pages[1][0]:pages[1][1]].endswith("Note six says the")
    assert manual.text[pages[2][0]:].startswith("watcher keeps its state")
    assert manual.text[pages[0][1]:pages[1][0]] == "\n\n"
    offset = 0
    for paragraph in manual.text.split("\n\n"):
        inside = [i for i, (a, b) in enumerate(pages) if a <= offset and offset + len(paragraph) <= b]
        assert inside or "\n" in paragraph, paragraph[:40]
        offset += len(paragraph) + 2


def test_running_headers_footers_and_page_numbers_are_dropped(manual):
    assert files.HEADER not in manual.text
    assert files.FOOTER not in manual.text
    assert "Page 1" not in manual.text and "Page 3" not in manual.text


def test_lines_join_into_paragraphs_and_hyphenated_words_join(manual):
    assert "\n\n" + files.INTRO + "\n\n" in manual.text
    assert "a small example of a well-known design." in manual.text
    assert "follows the well-known reactor pattern." in manual.text  # a real hyphen at the line end stays


def test_hyphen_rule():
    assert join_hyphens("a small exam-\nple here", set()) == "a small example here"
    assert join_hyphens("the well-\nknown loop", {"well-known"}) == "the well-known loop"
    assert join_hyphens("with Jean-\nPierre", set()) == "with Jean-\nPierre"
    assert join_hyphens("exam\ufffeple", set()) == "example"
    assert join_hyphens("exam\u00ad\nple and hy\u00adphen", set()) == "example and hyphen"
    assert plain("\ufb01le of \ufb02ags") == "file of flags"


def test_two_columns_read_left_column_first(folder):
    doc = read_pdf(files.write_two_column_pdf(folder / "two.pdf"), "two.pdf", _no_warning)
    assert doc.text == "\n\n".join(
        ["Two Column Notes", files.INTRO, files.INSTALL, "Right Column", files.GLOB]
    )
    assert files.sections(doc) == [("Two Column Notes", 1), ("Right Column", 2)]


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: files.write_manual_pdf(p, encrypt="secret"), "is encrypted (needs a password)"),
        (lambda p: files.write_scanned_pdf(p), "has no text layer (scanned?); qa does not OCR"),
        (lambda p: p.write_bytes(files.write_manual_pdf(p).read_bytes()[:3000]), "not a readable PDF"),
        (lambda p: p.write_bytes(os.urandom(4096)), "not a readable PDF"),
        (lambda p: p.write_bytes(b""), "not a readable PDF"),
    ],
    ids=["encrypted", "scanned", "truncated", "random-bytes", "empty"],
)
def test_bad_files_are_skipped_with_one_warning(folder, make, reason):
    path = folder / "bad.pdf"
    make(path)
    assert files.skip_warning(read_pdf, path).startswith(f"skipped bad.pdf: {reason}")


def test_a_damaged_page_is_left_empty_with_a_warning_and_the_rest_is_read(folder, manual):
    data = files.write_manual_pdf(folder / "damaged.pdf").read_bytes()
    # Deliberate damage of the same length (the cross-reference offsets stay right): page 2's
    # dictionary no longer says it is a page.
    at = [i for i in range(len(data)) if data.startswith(b"/Type /Page\n", i)][1]
    path = folder / "damaged.pdf"
    path.write_bytes(data[:at] + b"/Type /Xxxx\n" + data[at + 12:])
    warnings: list[str] = []
    doc = read_pdf(path, "damaged.pdf", warnings.append)
    assert warnings == ["damaged.pdf: page 2 of 3 could not be loaded (damaged?); the other pages are read"]
    first, second, third = doc.pages
    assert second[0] == second[1] and doc.text[: first[1]] == manual.text[: manual.pages[0][1]]
    assert doc.text[third[0]:].startswith("watcher keeps its state")
    files.sections(doc)  # the bookmarks of the lost page are left out; the others keep their headings


def test_a_pdf_encrypted_with_an_owner_password_only_is_read(folder, manual):
    doc = read_pdf(files.write_manual_pdf(folder / "owner.pdf", encrypt=""), "owner.pdf", _no_warning)
    assert doc.text == manual.text and doc.sections == manual.sections


def test_an_image_only_page_has_an_empty_range(folder):
    doc, warnings = _read(files.write_scanned_pdf(folder / "mixed.pdf", text_pages=1))
    assert warnings == []
    assert doc.text == "Typed page 1 has a real text layer."
    assert doc.pages == ((0, 35), (35, 35))


_MEASURE = """
import json, sys
from pathlib import Path
from qa.ingest.pdf import read_pdf
doc = read_pdf(Path(sys.argv[1]), "long.pdf", print)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (pytest) through fork and exec.
peak = next(int(ln.split()[1]) / 1024 for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
print(json.dumps({"pages": len(doc.pages), "header": "minutes of the Widget Board" in doc.text,
                  "sections": [(s.heading, s.level, doc.text[s.start:s.end].split("\\n")[0]) for s in doc.sections[:3]],
                  "count": len(doc.sections), "page2": doc.text[doc.pages[1][0]:doc.pages[1][0] + 14],
                  "text": len(doc.text), "rss_mb": peak}))
"""


def test_a_300_page_pdf_is_read_page_by_page_in_bounded_memory(folder):
    path = files.write_long_pdf(folder / "long.pdf", pages=300)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, env=env, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["pages"] == 300 and not result["header"]
    assert result["page2"] == "2. Chapter 2\n\n"  # the running head and the folio "6" are gone
    # Outline entries without the number land on the numbered headings, named as printed; the title
    # is found by its size.
    assert result["count"] == 301
    assert result["sections"] == [
        ["The Widget Board Report", 1, "The Widget Board Report"],
        ["1. Chapter 1", 2, "1. Chapter 1"],
        ["2. Chapter 2", 2, "2. Chapter 2"],
    ]
    assert result["rss_mb"] < 100, result  # ~1 MB of text: memory does not grow with every page kept open


def test_the_reader_is_found_by_suffix():
    assert reader(".PDF") is read_pdf
    assert reader(".txt") is None


def test_mangled_pdfs_never_raise(folder):
    files.check_never_raises(read_pdf, files.write_manual_pdf(folder / "m.pdf").read_bytes(), folder / "mangled.pdf")


@pytest.fixture(scope="module")
def reference(folder):
    return read_pdf(files.write_reference_pdf(folder / "reference.pdf"), "reference.pdf", _no_warning)


def test_paragraphs_come_from_the_line_geometry(reference):
    """Manual layouts, as reportlab sets them: each construct is one paragraph of the reader's text."""
    paragraphs = reference.text.split("\n\n")
    # A hanging tag's text wraps under itself: one paragraph, the tag set apart like a table cell.
    assert "-v | " + files.TAG_TEXT in paragraphs
    # A bold heading out in the margin is not run into the indented text below it, though that text
    # reads on from it (no closing punctuation, a lower-case start, the usual line spacing).
    at = paragraphs.index(files.MARGIN_HEADING)
    assert paragraphs[at + 1] == files.MARGIN_BODY
    # A hyphenated line end in the middle of a paragraph (pdfium runs those two lines into one) does not
    # cut it: the spacing is measured baseline to baseline.
    assert "A journal entry is a small example of a record that the reader trusts. " + files.TAIL in paragraphs
    # A list spaced out more than its lines, with the sentence that introduces it: one paragraph, an item a line.
    assert "\n".join([files.LIST_INTRO, *(f"\u2022 {item}" for item in files.FEATURES)]) in paragraphs
    # Code in a fixed-pitch font after a colon keeps its lines.
    assert "\n".join([files.CODE_INTRO, *(" ".join(line.split()) for line in files.CODE)]) in paragraphs
    # A table of contents' entry (dot leaders up to a page number) is navigation, not text.
    assert "Contents" not in reference.text


def test_a_heading_set_larger_than_the_body_starts_a_subsection_of_its_bookmark(reference):
    assert [(s.heading, s.level) for s in reference.sections] == [
        ("1 Options", 2), ("2 Functions", 2), (files.FUNCTION, 3)]


def test_short_paragraphs_of_a_section_share_a_passage(reference):
    from qa.ingest.passages import split_document

    passages = split_document(reference)
    (returns,) = [p for p in passages if files.FUNCTION_RETURNS in p.text]
    assert files.FUNCTION_TEXT in returns.text and returns.section == files.FUNCTION and returns.page == 2
    for p in passages:
        assert reference.text[p.start:p.end] == p.text
        start, end = reference.pages[p.page - 1]
        assert start <= p.start and p.end <= end  # none runs over a page break


def test_no_running_footer_is_left_in_the_manuals_set():
    """eval/manuals: the last line pdfium gives of each page is the running footer (groff's date and
    page number, Chromium's URL and "n/N"); none is in the reader's text of that page, not even where
    pdfium runs a body line ending in a hyphen into it."""
    import pypdfium2 as pdfium

    from conftest import ROOT

    for path in sorted((ROOT / "eval" / "manuals" / "corpus").glob("*.pdf")):
        document = read_pdf(path, path.name, _no_warning)
        pdf = pdfium.PdfDocument(str(path))
        for index, (start, end) in enumerate(document.pages):
            footer = pdf[index].get_textpage().get_text_range().splitlines()[-1].split("\ufffe")[-1].strip()
            assert footer and footer not in document.text[start:end], (path.name, index + 1, footer)


def _words_pdf(path: Path, raw_groff_line: bool) -> Path:
    """One page written by reportlab: a line drawn as separate runs (a word cut by a kern into two runs,
    an italic run after a roman word and its space), and, when `raw_groff_line`, the same line as groff's
    gropdf writes it: the word space before the italic run closes a TJ array before an empty string
    ("[(no) -250 ()] TJ"), which pdfium loses, and the glyph after a kern is placed anew ("gi" Td "v")."""
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    roman, italic = "Times-Roman", "Times-Italic"
    t = c.beginText(72, 700)
    # Prose that writes the words whole, as a document does elsewhere.
    for line in ("Standard input is read when no input is named; a list is given to the reader.",
                 "When a file is given, it is read; the FILE is named on the command line."):
        t.setFont(roman, 10)
        t.textLine(line)
    c.drawText(t)
    x, y = 72.0, 660.0
    for text, font, gap in (("If no ", roman, 0), ("FILE", italic, 2.5), ("is gi", roman, 0.3),
                            ("ven, standard input is read.", roman, 0)):
        c.setFont(font, 10)
        c.drawString(x, y, text)
        x += stringWidth(text, font, 10) + gap
    if raw_groff_line:
        f1, f2 = (c._doc.getInternalFontName(f) for f in (roman, italic))
        # Where groff places "v": where the line's spaces put it, less its kern with "i".
        gi = stringWidth("If no ", roman, 10) + stringWidth("FILE", italic, 10) + 2.5 + stringWidth(
            "is gi", roman, 10) - 0.3
        c._code.append(
            f"BT 1 0 0 1 72 640 Tm {f1} 10 Tf [(If) -250 (no) -250 ()] TJ {f2} 10 Tf [(FILE) -250 ] TJ "
            f"{f1} 10 Tf [(is) -250 (gi)] TJ ET BT 1 0 0 1 {72 + gi:.3f} 640 Tm {f1} 10 Tf (ven, it says.) Tj ET")
    c.showPage()
    c.save()
    return path


def test_word_spaces_of_separate_runs_read_back_right(folder):
    """A kern inside a word and an italic run after a word's space, each drawn as its own run: the
    reader's text has the word whole and the space before the italic word."""
    document = read_pdf(_words_pdf(folder / "runs.pdf", raw_groff_line=False), "runs.pdf", _no_warning)
    assert "If no FILE is given, standard input is read." in document.text


def test_a_word_space_pdfium_loses_before_a_font_change_is_put_back(folder):
    """groff's way of writing the line: pdfium's own text reads "If noFILE is gi ven" (the lost kern
    glues two words and opens a gap inside a later one); the reader's reads it right, and the passages
    still cut the text at their offsets."""
    import pypdfium2 as pdfium

    from qa.ingest.passages import split_document

    path = _words_pdf(folder / "groff-line.pdf", raw_groff_line=True)
    raw = pdfium.PdfDocument(str(path))[0].get_textpage().get_text_range()
    assert "noFILE" in raw and "gi ven" in raw  # the defect this guards against is there
    document = read_pdf(path, path.name, _no_warning)
    assert "If no FILE is given, it says." in document.text
    assert "If no FILE is given, standard input is read." in document.text
    assert "a list is given to the reader" in document.text and "noFILE" not in document.text
    for p in split_document(document):
        assert document.text[p.start:p.end] == p.text


def test_groff_man_pages_read_with_their_word_spaces():
    """The eval sets' man pages, as gropdf writes them: pdfium reads "If noFILE is gi ven" in grep(1)
    and "See theMACs k eyword" in ssh(1); the reader's text has groff's own words."""
    from conftest import ROOT

    holdout = ROOT / "eval" / "holdout" / "corpus"
    grep = read_pdf(holdout / "grep.pdf", "grep.pdf", _no_warning)
    assert "If no FILE is given, recursive searches examine the working directory" in grep.text
    assert "noFILE" not in grep.text and "gi ven" not in grep.text
    ssh = read_pdf(holdout / "ssh.pdf", "ssh.pdf", _no_warning)
    assert "See the MACs keyword in ssh_config(5)" in ssh.text


def _uneven_spacing_pdf(path: Path, lines: int = 10) -> Path:
    """One page of 10 pt lines whose baseline gaps never repeat (11, 12.5, 14, ... pt): enough line
    pairs of one size to learn its spacing from, but no spacing common enough to be the usual one."""
    from reportlab.pdfgen import canvas

    page = canvas.Canvas(str(path))
    page.setFont("Helvetica", 10)
    y = 780.0
    for i in range(lines):
        page.drawString(72, y, f"Line {i} of a page whose line spacing never repeats.")
        y -= 11 + 1.5 * i
    page.save()
    return path


def test_a_size_whose_line_gaps_never_recur_is_read(folder):
    # Debian's gnuplot manual was skipped whole: leading() took min() of no common gap.
    doc = read_pdf(_uneven_spacing_pdf(folder / "uneven.pdf"), "uneven.pdf", _no_warning)
    assert [f"Line {i} of" in doc.text for i in range(10)] == [True] * 10
    assert doc.pages == ((0, len(doc.text)),)


# The plain path. No real PDF is known to break the layout rules now that leading() is fixed, so a
# bug is put into qa's own code: the real function, called with an argument it cannot take.
def test_a_page_whose_layout_rules_fail_is_read_as_plain_text(folder, manual, monkeypatch):
    import qa.ingest.pdf as pdf

    real, calls = pdf._lines, []

    def page_two_fails(textpage, text, height, words):
        calls.append(text)
        return real(textpage, text, height, None if len(calls) == 2 else words)

    monkeypatch.setattr(pdf, "_lines", page_two_fails)
    doc, warnings = _read(files.write_manual_pdf(folder / "bug.pdf"))
    assert warnings == ["bug.pdf: read as plain text: layout rules failed on page 2 (qa bug: AttributeError in _lines)"]
    assert doc.plain_pages == (2,) and len(doc.pages) == len(manual.pages) == 3
    first, second, third = doc.pages
    assert doc.text[:first[1]] == manual.text[:manual.pages[0][1]]  # the other pages as laid out
    assert doc.text[third[0]:] == manual.text[manual.pages[2][0]:]
    # page 2 is pdfium's text of it, one paragraph, every word there
    assert doc.text[second[0]:second[1]] == " ".join(calls[1].split())


def test_a_document_whose_layout_rules_fail_is_read_as_plain_text_page_by_page(folder, manual, monkeypatch):
    import qa.ingest.pdf as pdf
    from qa.ingest.pdf_paragraphs import leading

    monkeypatch.setattr(pdf, "leading", lambda pages: leading([None]))
    doc, warnings = _read(files.write_manual_pdf(folder / "bug.pdf"))
    assert warnings == ["bug.pdf: read as plain text: layout rules failed (qa bug: TypeError in leading)"]
    assert doc.plain_pages == (1, 2, 3) and len(doc.pages) == 3 and doc.sections == ()
    words = lambda text: [w.strip(".,:;") for w in text.split() if w != "|"]  # noqa: E731 (cells have no "|" there)
    assert set(words(manual.text)) <= set(words(doc.text))  # nothing of the laid-out text is lost


def test_a_qa_bug_is_never_worded_as_the_files_fault(folder, monkeypatch):
    import qa.ingest.pdf as pdf

    # both paths fail, in qa's own code
    monkeypatch.setattr(pdf, "_outline", lambda document: pdf.plain_text(None))
    monkeypatch.setattr(pdf, "read_plain", lambda path, builder: pdf.plain_text(None))
    warning = files.skip_warning(read_pdf, files.write_manual_pdf(folder / "bug.pdf"))
    assert warning == "skipped bug.pdf: qa could not read it (qa bug: AttributeError in plain_text)"
