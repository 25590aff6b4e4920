"""Bad corpus files: names that are not UTF-8, files and folders that cannot be read; the rest is indexed."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import without_progress

from qa.cli import app
from qa.store.local.index import load_index, stale_reason
from qa.store.local.build import build_index

runner = CliRunner()
NOBODY = 65534


@contextlib.contextmanager
def as_nobody():
    """Run the block with the effective uid of `nobody`, so permissions apply (root reads everything)."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.fixture
def tmp_path():
    """A folder that `nobody` may enter (pytest's own are root's alone); removed after the test."""
    folder = Path(tempfile.mkdtemp(prefix="qa-bad-files-"))
    folder.chmod(0o777)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder)


@pytest.fixture
def corpus(tmp_path):
    """A corpus folder anyone may read, with one good file."""
    folder = tmp_path / "c"
    folder.mkdir()
    folder.chmod(0o777)
    (folder / "good.txt").write_text("Good\n\nReadable text about apples and pears.\n")
    return folder


def test_a_file_name_that_is_not_utf8_is_indexed_with_its_name_escaped(corpus, tmp_path, embedder):
    odd = os.fsdecode(b"bad\xff.txt")
    (corpus / odd).write_text("Odd\n\nA file with a strange name about mangoes.\n")
    index = build_index([corpus], tmp_path / "index", embedder)
    assert sorted(p.doc for p in index.passages) == ["bad\\xff.txt", "good.txt"]
    assert load_index(tmp_path / "index").passages == index.passages
    assert stale_reason(index.manifest, embedder.model) is None
    recorded = json.loads((tmp_path / "index" / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert [f["doc"] for f in recorded] == ["bad\\xff.txt", "good.txt"]


def test_an_unreadable_file_and_folder_are_skipped_with_a_warning(corpus, tmp_path, embedder, monkeypatch):
    (corpus / "secret.txt").write_text("Secret\n\nNobody may read this.\n")
    (corpus / "secret.txt").chmod(0o000)
    (corpus / "locked").mkdir()
    (corpus / "locked" / "inside.md").write_text("# Inside\n\nHidden by its folder.\n")
    (corpus / "locked").chmod(0o000)
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    index_dir.chmod(0o777)
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "no-cache"))  # nobody's cache cannot be made there
    warnings = []
    with as_nobody():
        index = build_index([corpus], index_dir, embedder, warn=warnings.append)
        reason = stale_reason(index.manifest, embedder.model)
    assert [p.doc for p in index.passages] == ["good.txt"]
    assert sorted(w for w in warnings if w.startswith("skipped")) == [f"skipped {corpus}/locked: cannot be read (Permission denied)",
                                f"skipped {corpus}/secret.txt: cannot be read (Permission denied)"]
    assert reason is None  # still unreadable: nothing changed, no rebuild on every ask
    record = next(r for r in index.manifest["files"] if r["doc"] == "secret.txt")
    assert record["skipped"] and record["sha256"] is None
    (corpus / "secret.txt").chmod(0o644)
    with as_nobody():
        assert stale_reason(index.manifest, embedder.model) == "secret.txt can now be read"


def test_qa_index_and_ask_go_on_past_an_unreadable_file(corpus, tmp_path, monkeypatch, embedder):
    """Through the CLI as the user `nobody`: a warning naming the file, the rest indexed and answered."""
    from qa.cache import cache_dir

    if os.geteuid() == 0:
        cache = tmp_path / "cache"
        shutil.copytree(cache_dir() / "onnx", cache / "onnx")  # the export a build reuses, readable by nobody
        for path in [cache, *cache.rglob("*")]:
            path.chmod(0o777 if path.is_dir() else 0o644)
        monkeypatch.setenv("QA_CACHE_DIR", str(cache))
    (corpus / "secret.txt").write_text("Secret\n\nNobody may read this.\n")
    (corpus / "secret.txt").chmod(0o000)
    monkeypatch.chdir(tmp_path)
    # once as root first: Python's standard library lies under /root here, which `nobody` cannot read,
    # so every module the commands import lazily must be imported before the uid changes
    runner.invoke(app, ["index", "c", "--index-dir", "warm"])
    runner.invoke(app, ["ask", "--index-dir", "warm", "what fruit is mentioned"])
    shutil.rmtree(tmp_path / "warm")
    with as_nobody():
        built = runner.invoke(app, ["index", "c", "--index-dir", "index", "--json"])
        asked = runner.invoke(app, ["ask", "--json", "-k", "1", "what fruit is mentioned"])
    assert built.exit_code == 0, built.output
    assert without_progress(built.stderr).splitlines() == ["qa: skipped c/secret.txt: cannot be read (Permission denied)"]
    assert [f["doc"] for f in json.loads(built.stdout)["files"]] == ["good.txt", "secret.txt"]
    assert asked.exit_code == 0, asked.output
    assert asked.stderr == ""  # the unreadable file does not make the index stale
    assert json.loads(asked.stdout)["passages"][0]["doc"] == "good.txt"


@pytest.fixture
def mixed(tmp_path, monkeypatch):
    """A corpus of one good text, a PDF whose page 2 meets a bug put into qa's own line rules (read on
    the plain path), an encrypted PDF and a text file that is not UTF-8."""
    import ingest_files as files
    import qa.ingest.pdf as pdf

    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "good.txt").write_text("Good\n\nReadable text about apples and pears.\n")
    (folder / "latin1.txt").write_bytes("Caf\xe9 au lait.\n".encode("latin-1"))
    files.write_manual_pdf(folder / "manual.pdf")
    files.write_manual_pdf(folder / "locked.pdf", encrypt="secret")
    real, calls = pdf._lines, []

    def page_two_fails(textpage, text, height, words):
        calls.append(text)
        return real(textpage, text, height, None if len(calls) == 2 else words)

    monkeypatch.setattr(pdf, "_lines", page_two_fails)
    monkeypatch.chdir(tmp_path)
    return folder


SUMMARY = "4 files: 1 read, 1 read as plain text (layout rules failed on 1 page), 2 skipped (1 encrypted, 1 not UTF-8)"


def test_qa_index_ends_with_one_line_of_every_files_outcome(mixed):
    result = runner.invoke(app, ["index", "m", "--index-dir", "index"])
    assert result.exit_code == 0, result.output
    passages = json.loads(Path("index/manifest.json").read_text())["passage_count"]
    built = rf"Indexed {passages} passages \(3 PDF pages\) from 2 files into index/ in \d+\.\d s\n"
    assert re.fullmatch(built + re.escape(SUMMARY) + "\n", result.stdout)
    assert without_progress(result.stderr).splitlines() == [
        "qa: skipped m/latin1.txt: not valid UTF-8 (byte 3)",  # a text file by its path, as ever
        "qa: skipped locked.pdf: is encrypted (needs a password)",
        "qa: manual.pdf: read as plain text: layout rules failed on page 2 (qa bug: AttributeError in _lines)",
    ]
    again = runner.invoke(app, ["index", "m", "--index-dir", "index"])  # nothing read again: outcomes kept
    assert re.fullmatch(built + re.escape(SUMMARY) + "\n", again.stdout)


def test_qa_index_json_lists_each_files_outcome_and_strict_exits_1(mixed):
    result = runner.invoke(app, ["index", "m", "--index-dir", "index", "--json", "--strict"])
    assert result.exit_code == 1, result.output
    printed = json.loads(result.stdout)
    assert printed["summary"] == SUMMARY
    outcomes = {f["doc"]: {k: v for k, v in f.items() if k in ("outcome", "plain", "plain_pages", "reason", "short")}
                for f in printed["files"]}
    assert outcomes == {
        "good.txt": {"outcome": "read"},
        "latin1.txt": {"outcome": "skipped", "reason": "not valid UTF-8 (byte 3)", "short": "not UTF-8"},
        "locked.pdf": {"outcome": "skipped", "reason": "is encrypted (needs a password)", "short": "encrypted"},
        "manual.pdf": {"outcome": "plain", "plain_pages": [2],
                       "plain": "layout rules failed on page 2 (qa bug: AttributeError in _lines)"},
    }


def test_strict_exits_0_when_every_file_was_read(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["index", "c", "--index-dir", "index", "--strict"])
    assert result.exit_code == 0, result.output
    # every file read whole: the last line counts them, and no outcomes line follows it
    assert re.fullmatch(r"Indexed \d+ passages from 1 file into index/ in \d+\.\d s\n", result.stdout)


def test_the_summary_counts_pages_and_whole_files_and_says_failed_only_when_rules_failed():
    from qa.ingest.outcomes import summary

    failed = {"outcome": "plain", "plain": "layout rules failed on pages 3, 9 (qa bug: ValueError in leading)",
              "plain_pages": [3, 9]}
    deep = {"outcome": "plain", "plain": "elements nested over 500 deep, past what the layout reader takes",
            "plain_pages": []}
    read, skipped = {"outcome": "read"}, {"outcome": "skipped", "short": "encrypted"}
    assert summary([read, failed, skipped]) == \
        "3 files: 1 read, 1 read as plain text (layout rules failed on 2 pages), 1 skipped (encrypted)"
    assert summary([failed, deep]) == "2 files: 0 read, 2 read as plain text (layout rules set aside on 2 pages and 1 whole file)"
