"""The Word reader on real .docx files written by python-docx: styles as sections, tables, lists, bad files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ingest_files as files
from qa.ingest import reader
from qa.ingest.docx import read_docx

BODY = [
    "1. Introduction",
    files.INTRO,
    "2. Installing",
    files.INSTALL,
    "2.1. Requirements",
    "Component | Version | Notes\nPython | 3.11 | required\nSQLite | 3.40 | bundled",
    "Patterns are matched against the path relative to the root.\nA pattern that ends with a slash matches folders only.",
    "2.4. The glob files",
    files.GLOB,
    "3. Operating",
    "The last paragraph closes the manual.",
]
CHAPTERS = [("1. Introduction", 2), ("2. Installing", 2), ("2.1. Requirements", 3), ("2.4. The glob files", 3), ("3. Operating", 2)]


def _read(path: Path):
    warnings: list[str] = []
    return read_docx(path, path.name, warnings.append), warnings


def test_title_and_heading_styles_are_the_sections(tmp_path):
    doc, warnings = _read(files.write_docx(tmp_path / "manual.docx"))
    assert warnings == [] and doc.kind == "docx" and doc.pages is None
    assert doc.text == "\n\n".join(["Widget Controller Guide"] + BODY)
    assert files.sections(doc) == [("Widget Controller Guide", 1)] + CHAPTERS
    req = doc.sections[3]
    assert doc.text[req.start:req.end] == "\n\n".join(BODY[4:7])  # the table and the list, rows and items as lines


def test_headers_and_footers_are_not_body_text(tmp_path):
    doc, _ = _read(files.write_docx(tmp_path / "manual.docx"))
    assert files.HEADER not in doc.text and files.FOOTER not in doc.text


def test_without_a_title_style_the_title_property_or_else_the_first_heading_is_the_title(tmp_path):
    doc, _ = _read(files.write_docx(tmp_path / "a.docx", title=False, property_title="Controller notes"))
    assert doc.text == "\n\n".join(["Controller notes"] + BODY)
    assert files.sections(doc) == [("Controller notes", 1)] + CHAPTERS
    doc, _ = _read(files.write_docx(tmp_path / "b.docx", title=False))
    assert doc.text == "\n\n".join(BODY)
    assert files.sections(doc) == [("1. Introduction", 1)] + CHAPTERS[1:]


def test_a_merged_cell_is_written_once(tmp_path):
    import docx

    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    merged = table.cell(0, 0).merge(table.cell(0, 2))
    merged.text = "Settings"
    for cell, text in zip(table.rows[1].cells, ["interval", "5 s", "scan period"]):
        cell.text = text
    document.save(str(tmp_path / "t.docx"))
    doc, _ = _read(tmp_path / "t.docx")
    assert doc.text == "Settings\ninterval | 5 s | scan period"


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_bytes(files.write_docx(p).read_bytes()[:2000]), "not a readable .docx (not a zip archive"),
        (lambda p: p.write_bytes(os.urandom(4096)), "not a readable .docx"),
        (lambda p: p.write_bytes(b""), "not a readable .docx"),
        (lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)), "is encrypted or an old binary .doc"),
        (lambda p: __import__("docx").Document().save(str(p)), "no text found"),
    ],
    ids=["truncated", "random-bytes", "empty-file", "ole-container", "no-text"],
)
def test_bad_files_are_skipped_with_one_warning(tmp_path, make, reason):
    path = tmp_path / "bad.docx"
    make(path)
    assert files.skip_warning(read_docx, path).startswith(f"skipped bad.docx: {reason}")


def test_the_reader_is_found_by_suffix():
    assert reader(".docx") is read_docx


def test_mangled_docx_files_never_raise(tmp_path):
    files.check_never_raises(read_docx, files.write_docx(tmp_path / "m.docx").read_bytes(), tmp_path / "mangled.docx")


def test_a_file_whose_layout_rules_fail_is_read_paragraph_by_paragraph(tmp_path, monkeypatch):
    import qa.ingest.docx as docx

    # a bug put into qa's own code: the real function, called with an argument it cannot take
    real = docx._style_level
    monkeypatch.setattr(docx, "_style_level", lambda paragraph, known: real(paragraph, None))
    doc, warnings = _read(files.write_docx(tmp_path / "manual.docx"))
    assert warnings == ["manual.docx: read as plain text: layout rules failed (qa bug: TypeError in _style_level)"]
    paragraphs = doc.text.split("\n\n")
    # body paragraphs in order, a table's cells a paragraph each
    assert paragraphs[:4] == ["Widget Controller Guide", "1. Introduction", files.INTRO, "2. Installing"]
    assert files.GLOB in paragraphs and paragraphs[-1] == "The last paragraph closes the manual."
    assert ["Component", "Version", "Notes"] == paragraphs[paragraphs.index("2.1. Requirements") + 1:][:3]
