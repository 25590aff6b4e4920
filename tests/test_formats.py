"""PDF, HTML and Word files end to end: indexed beside text, asked, cited to the page, offsets round-trip."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ingest_files import blog_page, docs_page, write_docx, write_html, write_manual_pdf, write_scanned_pdf
from qa.serve.app import create_app
from qa.cli import app
from qa.store.index import load_index
from qa.store.build import build_index
from qa.search.retrieval import Retriever
from qa.config import Settings
from qa.wiring import open_retriever

runner = CliRunner()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, seed_corpus, embedder):
    """A mixed folder (a PDF manual, two web pages, a Word report, the seed text, and bad files) and its index."""
    root = tmp_path_factory.mktemp("mixed")
    corpus = root / "c"
    shutil.copytree(seed_corpus, corpus)
    write_manual_pdf(corpus / "manual.pdf")
    (corpus / "web").mkdir()
    write_html(corpus / "web" / "blog.html", blog_page())
    write_html(corpus / "web" / "docs.htm", docs_page())
    write_docx(corpus / "report.docx")
    write_manual_pdf(corpus / "locked.pdf", encrypt="secret")
    write_scanned_pdf(corpus / "scan.pdf")
    (corpus / "broken.docx").write_bytes((corpus / "report.docx").read_bytes()[:300])
    warnings: list[str] = []
    index = build_index([corpus], root / "index", embedder, warn=warnings.append)
    return root, index, warnings


def test_every_format_is_indexed_and_bad_files_are_skipped_with_a_warning(mixed):
    _, index, warnings = mixed
    assert sorted({p.doc for p in index.passages}) == ["manual.pdf", "north-korea-diplomacy.txt", "report.docx",
                                                       "web/blog.html", "web/docs.htm"]
    assert sorted(w.split(":")[0] for w in warnings) == ["skipped broken.docx", "skipped locked.pdf",
                                                         "skipped scan.pdf"]
    assert any("no text layer" in w for w in warnings)
    assert {r["doc"]: r["kind"] for r in index.documents.values()} == {
        "manual.pdf": "pdf", "north-korea-diplomacy.txt": "text", "report.docx": "docx",
        "web/blog.html": "html", "web/docs.htm": "html"}


def test_offsets_round_trip_for_every_passage_and_highlight(mixed, embedder):
    _, index, _ = mixed
    for p in index.passages:
        assert index.text(p.doc)[p.start:p.end] == p.text, p.id
    retriever = Retriever(index, embedder)
    for question in ("what does a glob file list", "how is the package installed", "why does the journal come first"):
        for hit in retriever.ask(question, 10).passages:
            text = index.text(hit.doc)
            assert text[hit.start:hit.end] == hit.text
            assert text[hit.highlight.start:hit.highlight.end] == hit.highlight.text


def test_pdf_passages_carry_their_page_and_never_straddle_a_page_break_between_sentences(mixed):
    _, index, _ = mixed
    pages = index.documents["manual.pdf"]["pages"]
    text = index.text("manual.pdf")
    for p in (p for p in index.passages if p.doc == "manual.pdf"):
        start, end = pages[p.page - 1]
        assert start <= p.start <= end, p
        for later_start, _ in pages[p.page:]:
            if p.start < later_start < p.end:  # only where a sentence runs on over the break
                assert text[later_start - 1] == "\n" and text[later_start - 2] != "\n", p
    assert {p.page for p in index.passages if p.doc == "manual.pdf"} >= {1, 2, 3}
    assert all(p.page is None for p in index.passages if p.doc != "manual.pdf")


def test_sections_come_from_the_documents_own_structure(mixed):
    _, index, _ = mixed
    sections = {p.doc: [] for p in index.passages}
    for p in index.passages:
        if p.section not in sections[p.doc]:
            sections[p.doc].append(p.section)
    assert sections["manual.pdf"][:4] == ["1. Introduction", "2. Installing", "2.1. Requirements",
                                          "2.4. The glob files"]
    assert "3. Operating" in sections["manual.pdf"]
    assert {p.title for p in index.passages if p.doc == "manual.pdf"} == {"Widget Controller Guide"}
    assert sections["report.docx"][:2] == ["1. Introduction", "2. Installing"]


def test_the_right_page_is_cited_and_shown(mixed):
    root, _, _ = mixed
    result = runner.invoke(app, ["ask", "--json", "-k", "1", "--index-dir", str(root / "index"),
                                 "what does note seven say the watcher keeps"])
    assert result.exit_code == 0, result.output
    hit = json.loads(result.stdout)["passages"][0]
    assert (hit["doc"], hit["page"]) == ("manual.pdf", 3)
    assert "Note seven" in hit["highlight"]["text"] and hit["highlight"]["page"] == 3
    shown = runner.invoke(app, ["ask", "-k", "1", "--index-dir", str(root / "index"),
                                "what does note seven say the watcher keeps"])
    assert shown.stdout.splitlines()[0].startswith(
        f"[1] manual.pdf › 3. Operating (p. 3, chars {hit['start']}–{hit['end']}) ")


def test_qa_text_and_the_documents_route_print_the_extracted_text(mixed):
    root, index, _ = mixed
    printed = runner.invoke(app, ["text", "manual.pdf", "--index-dir", str(root / "index")])
    assert printed.exit_code == 0
    assert printed.stdout == index.text("manual.pdf")
    assert "Acme Widget Controller Manual" not in printed.stdout  # the running header is furniture
    assert "example of a well-known design" in printed.stdout  # "exam-/ple" joined, "well-known" kept
    missing = runner.invoke(app, ["text", "nothere.pdf", "--index-dir", str(root / "index")])
    assert (missing.exit_code, missing.stderr) == (2, "Error: no document named 'nothere.pdf' in this index\n")
    with TestClient(create_app(open_retriever(Settings(index_dir=root / "index"))),
                    base_url="http://127.0.0.1") as client:
        response = client.get("/documents/web/blog.html/text")
        assert response.status_code == 200 and response.text == index.text("web/blog.html")
        plain = client.get("/documents/north-korea-diplomacy.txt/text")
        assert plain.text == (root / "c" / "north-korea-diplomacy.txt").read_text(encoding="utf-8")
        assert client.get("/documents/none.pdf/text").json() == {
            "error": {"status": 404, "message": "no document named 'none.pdf' in this index"}}
        row = next(p for p in index.passages if p.doc == "manual.pdf" and p.page == 2)
        detail = client.get(f"/passages/{row.id}").json()
        assert detail["page"] == 2
        assert detail["citation"] == f"manual.pdf › {row.section} (p. 2, chars {row.start}–{row.end})"


def test_a_rebuild_reads_only_the_pdf_html_and_word_files_that_changed(tmp_path, embedder, monkeypatch):
    import qa.ingest.pdf

    corpus = tmp_path / "c"
    corpus.mkdir()
    write_manual_pdf(corpus / "manual.pdf")
    write_manual_pdf(corpus / "other.pdf", outline=False)
    first = build_index([corpus], tmp_path / "index", embedder)
    parsed = []
    real = qa.ingest.pdf.read_pdf
    monkeypatch.setattr(qa.ingest.pdf, "read_pdf", lambda path, *rest: parsed.append(path.name) or real(path, *rest))
    again = build_index([corpus], tmp_path / "index", embedder)
    assert parsed == [] and again.passages == first.passages  # taken from the index, the same passages
    write_manual_pdf(corpus / "other.pdf", outline=True)  # new bytes
    changed = build_index([corpus], tmp_path / "index", embedder)
    full = build_index([corpus], tmp_path / "full", embedder, reuse=False)
    assert parsed == ["other.pdf", "manual.pdf", "other.pdf"]  # the change, then the full build's two
    assert changed.passages == full.passages
    assert changed.documents == full.documents
    assert changed.text("manual.pdf") == full.text("manual.pdf")  # the kept extracted text, linked over


def test_qa_text_of_a_plain_file_edited_since_indexing_says_so(tmp_path, seed_corpus, embedder):
    corpus = tmp_path / "c"
    shutil.copytree(seed_corpus, corpus)
    index = build_index([corpus], tmp_path / "index", embedder)
    name = "north-korea-diplomacy.txt"
    assert index.text(name) == (corpus / name).read_text(encoding="utf-8")
    (corpus / name).write_text("Edited\n\nThe offsets no longer point where they did.\n")
    result = runner.invoke(app, ["text", name, "--index-dir", str(tmp_path / "index")])
    assert (result.exit_code, result.stderr) == (
        2, f"Error: {name} is no longer in the corpus as it was indexed: run `qa index`\n")


def test_a_rebuild_reads_every_file_again_once_the_readers_changed(tmp_path, embedder, monkeypatch):
    """An extracted text is the readers' of the build that made it: after a qa upgrade changed a reader,
    an unchanged PDF is read again instead of keeping the old reader's text."""
    import qa.ingest.pdf
    import qa.store.build
    import qa.store.documents

    corpus = tmp_path / "c"
    corpus.mkdir()
    write_manual_pdf(corpus / "manual.pdf")
    build_index([corpus], tmp_path / "index", embedder)
    parsed = []
    real = qa.ingest.pdf.read_pdf
    monkeypatch.setattr(qa.ingest.pdf, "read_pdf", lambda path, *rest: parsed.append(path.name) or real(path, *rest))
    for module in (qa.store.documents, qa.store.build):  # where a build asks which readers made a text
        monkeypatch.setattr(module, "readers_digest", lambda: "other readers")
    build_index([corpus], tmp_path / "index", embedder)
    assert parsed == ["manual.pdf"]
