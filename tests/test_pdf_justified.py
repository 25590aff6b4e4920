"""Justified prose in PDFs is read as prose, not as table rows, however wide its word spaces or however its
writer sets its type size; a real table beside it still reads as cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.ingest.pdf import read_pdf

PROSE = ("The analysis of variance compares several group means at once and reports whether the differences "
         "between them are larger than the variation inside each group would explain by chance alone, so that "
         "one test replaces many pairwise comparisons and keeps the error rate at the level chosen. Its table "
         "gives the sums of squares, their degrees of freedom and the ratio of the mean squares.").split()
TABLE = [["Option", "Type", "Default value"], ["verbose", "logical", "FALSE"], ["tolerance", "numeric", "1e-8"],
         ["max iterations", "integer", "100"]]


def _warn(message):
    raise AssertionError(f"unexpected warning: {message}")


def _word(c, word: str, x: float, y: float, size: float, scaled: bool) -> None:
    """One word placed on its own, as TeX places them (no space characters in the text); `scaled`: the
    font selected at 1 pt and the text matrix scaled to the size, as XeTeX's and LuaTeX's drivers do."""
    t = c.beginText()
    if scaled:
        t.setTextTransform(size, 0, 0, size, x, y)
        t.setFont("Times-Roman", 1)
    else:
        t.setTextOrigin(x, y)
        t.setFont("Times-Roman", size)
    t.textOut(word)
    c.drawText(t)


def _justified_pdf(path: Path, width: float, scaled: bool) -> Path:
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    size, x0, y = 10, 72, 700
    c = canvas.Canvas(str(path), pagesize=(595, 842))
    _word(c, "Variance", x0, 740, 16, scaled)
    lines, line = [], []
    for w in PROSE:
        if line and stringWidth(" ".join(line + [w]), "Times-Roman", size) > width * 0.8:
            lines.append(line)
            line = []
        line.append(w)
    lines.append(line)
    for i, words in enumerate(lines):
        last = i == len(lines) - 1
        total = sum(stringWidth(w, "Times-Roman", size) for w in words)
        gap = stringWidth(" ", "Times-Roman", size) if last else (width - total) / (len(words) - 1)
        x = x0
        for w in words:
            _word(c, w, x, y, size, scaled)
            x += stringWidth(w, "Times-Roman", size) + gap
        y -= 12
    y -= 24
    columns = [x0, x0 + 110, x0 + 190]
    for row in TABLE:
        for x, cell in zip(columns, row):
            for k, w in enumerate(cell.split()):  # a cell's own words a plain word space apart
                _word(c, w, x + stringWidth(" ".join(cell.split()[:k]) + (" " if k else ""), "Times-Roman", size),
                      y, size, scaled)
        y -= 14
    c.save()
    return path


@pytest.mark.parametrize("width, scaled", [(300, True), (340, False)],
                         ids=["type set at 1 pt and scaled", "word spaces over 1.2 em"])
def test_justified_prose_is_prose_and_the_table_beside_it_is_cells(tmp_path, width, scaled):
    document = read_pdf(_justified_pdf(tmp_path / "aov.pdf", width, scaled), "aov.pdf", _warn)
    prose = " ".join(PROSE)
    assert prose in document.text, document.text
    for row in TABLE:
        assert " | ".join(row) in document.text
    assert [s.heading for s in document.sections][:1] == ["Variance"]


def test_a_wide_spaced_line_with_few_gaps_is_still_a_row(tmp_path):
    """Two or three cells set far apart, each gap as wide as the others (a form's label and value), stay
    cells: too few gaps to tell justification by."""
    from reportlab.pdfgen import canvas

    path = tmp_path / "form.pdf"
    c = canvas.Canvas(str(path), pagesize=(595, 842))
    c.setFont("Times-Roman", 10)
    for y, (a, b, d) in zip((700, 686, 672), (("Name", "Width", "Height"), ("tile", "32", "32"),
                                              ("icon", "16", "16"))):
        c.drawString(72, y, a)
        c.drawString(172, y, b)
        c.drawString(272, y, d)
    c.save()
    document = read_pdf(path, "form.pdf", _warn)
    assert "Name | Width | Height\ntile | 32 | 32\nicon | 16 | 16" in document.text
