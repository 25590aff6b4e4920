"""Nothing lost: `--index-dir` never replaces what is not a qa index, and a damaged index is never used."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.store.local.index import load_index, read_manifest
from qa.store.local.build import build_index

runner = CliRunner()
QUESTION = "Which country is the protecting power for the US in North Korea?"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (or the file itself) by relative path, with its bytes."""
    folder = Path(folder)
    if folder.is_file():
        return {".": folder.read_bytes()}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def home(tmp_path, seed_corpus, monkeypatch):
    """A user's folder: notes/ with the seed text, an unrelated file and a subfolder, and a photo folder."""
    notes = tmp_path / "notes"
    shutil.copytree(seed_corpus, notes)
    (notes / "precious.dat").write_bytes(os.urandom(256))
    (notes / "letters").mkdir()
    (notes / "letters" / "draft.docx").write_bytes(b"PK\x03\x04 not really a docx, but the user's")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8\xff\xe0 a photo")
    (tmp_path / "notes.md").write_text("# My notes\n\nNothing to lose here.\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QA_INDEX", raising=False)
    return tmp_path


@pytest.mark.parametrize("args, kept, message", [
    (["index", "notes", "--index-dir", "notes"], "notes",
     "Error: --index-dir notes lies inside the corpus folder {home}/notes: put the index outside it "
     "(nothing was changed)"),
    (["index", "notes", "--index-dir", "notes/letters"], "notes",
     "Error: --index-dir notes/letters lies inside the corpus folder {home}/notes: put the index outside it "
     "(nothing was changed)"),
    (["index", "notes", "--index-dir", "photos"], "photos",
     "Error: --index-dir photos is not a qa index (it has no qa manifest) and is not empty: qa replaces only "
     "its own indexes; give a new or empty folder (nothing was changed)"),
    (["index", "notes", "--index-dir", "notes.md"], "notes.md",
     "Error: --index-dir notes.md is a file, not a folder: give a new or empty folder (nothing was changed)"),
    (["ask", QUESTION, "--index-dir", "notes.md"], "notes.md", None),
    (["index", "notes", "--index-dir", "."], ".",
     "Error: --index-dir . is the current folder or one above it: give a folder of its own, e.g. "
     "--index-dir index (nothing was changed)"),
    (["index", "notes", "--index-dir", "notes.md/index"], "notes.md",
     "Error: --index-dir notes.md/index is under {home}/notes.md, which is a file, not a folder "
     "(nothing was changed)"),
    (["index", "photos/..", "--index-dir", "photos"], "photos",
     "Error: --index-dir photos lies inside the corpus folder {home}: put the index outside it "
     "(nothing was changed)"),
])
def test_index_dir_that_is_not_an_index_is_never_touched(home, args, kept, message):
    before = snapshot(home / kept) if kept != "." else snapshot(home)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert (snapshot(home / kept) if kept != "." else snapshot(home)) == before  # byte for byte
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    if message:
        assert lines[0] == message.format(home=home)
    assert [p.name for p in home.iterdir() if ".tmp-" in p.name or ".old-" in p.name] == []


def test_ask_with_a_file_as_index_dir_names_it(home):
    shutil.copytree(home / "notes", home / "corpus", ignore=shutil.ignore_patterns("letters", "*.dat"))
    result = runner.invoke(app, ["ask", QUESTION, "--index-dir", "notes.md"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == ("Error: --index-dir notes.md is a file, not a folder: give a new "
                                              "or empty folder (nothing was changed)")
    assert (home / "notes.md").read_text() == "# My notes\n\nNothing to lose here.\n"


def test_a_corpus_path_inside_the_index_folder_is_refused(home):
    (home / "index" / "docs").mkdir(parents=True)
    shutil.copy(home / "notes" / "north-korea-diplomacy.txt", home / "index" / "docs")
    before = snapshot(home / "index")
    result = runner.invoke(app, ["index", "index/docs", "--index-dir", "index"])
    assert result.exit_code == 2
    assert result.stderr == (f"Error: the corpus path {home}/index/docs lies inside --index-dir index: put the "
                             "index elsewhere (nothing was changed)\n")
    assert snapshot(home / "index") == before


def test_a_proc_path_is_one_error_line(home):
    result = runner.invoke(app, ["index", "notes/north-korea-diplomacy.txt", "--index-dir", "/proc/qa-index"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: cannot write the index at /proc/qa-index (")
    assert len(result.stderr.splitlines()) == 1


def test_an_empty_folder_may_become_an_index_and_an_index_is_replaced(home):
    (home / "empty").mkdir()
    assert runner.invoke(app, ["index", "notes", "--index-dir", "empty"]).exit_code == 0
    assert read_manifest(home / "empty")["passage_count"] > 0
    (home / "notes" / "extra.txt").write_text("Extra\n\nA second document about pears.\n")
    result = runner.invoke(app, ["index", "notes", "--index-dir", "empty"])
    assert result.exit_code == 0, result.output
    assert "extra.txt" in [p.doc for p in load_index(home / "empty").passages]


def test_an_index_holding_a_file_qa_did_not_write_is_not_replaced(home):
    assert runner.invoke(app, ["index", "notes", "--index-dir", "index"]).exit_code == 0
    (home / "index" / "cat.jpg").write_bytes(b"\xff\xd8 the user's photo")
    before = snapshot(home / "index")
    result = runner.invoke(app, ["index", "notes", "--index-dir", "index"])
    assert result.exit_code == 2
    assert result.stderr == ("Error: --index-dir index is a qa index but also holds files qa did not write "
                             "(cat.jpg): move them out first (nothing was changed)\n")
    assert snapshot(home / "index") == before


def test_leftover_staging_folders_are_removed_by_the_next_build(home, embedder):
    build_index([home / "notes"], home / "index", embedder)
    for leftover in (".index.tmp-abc123", ".index.old-1-2"):
        (home / leftover / "bm25").mkdir(parents=True)
        (home / leftover / "dense.faiss").write_bytes(b"\0" * 4096)
    (home / ".index.tmp-file").write_text("a file of that name is not ours to remove")
    build_index([home / "notes"], home / "index", embedder)
    assert sorted(p.name for p in home.iterdir() if p.name.startswith(".index")) == [".index.tmp-file"]


def test_a_second_build_waits_for_the_first(home, embedder):
    """Two builds of one folder at once: the second waits on the lock, says so, and both complete."""
    from qa.store.local.folder import build_lock

    warnings = []
    with build_lock(home / "index"):
        code = ("import sys; from qa.store.local.folder import build_lock\n"
                "with build_lock(sys.argv[1], warn=lambda m: print(m, flush=True)): print('got it')")
        second = subprocess.Popen([sys.executable, "-c", code, str(home / "index")], stdout=subprocess.PIPE,
                                  text=True)
        first_line = second.stdout.readline()
        assert "another qa index is writing" in first_line
        assert second.poll() is None  # still waiting while the first holds the lock
    assert second.communicate(timeout=60)[0] == "got it\n"
    assert second.returncode == 0 and warnings == []


# --- damage --------------------------------------------------------------------------------------


def flip_a_byte(path: Path, keep_mtime: bool = True) -> None:
    """Change one byte in the middle of `path`, and set its mtime back, as bit rot would leave it."""
    info = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x5A
    path.write_bytes(bytes(data))
    if keep_mtime:
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


@pytest.mark.parametrize("file", ["model.onnx", "dense.faiss", "sentence_vectors.npy", "sentence_spans.npy",
                                  "passages.jsonl", "bm25/vocab.json"])
def test_a_damaged_file_is_named_and_never_used(workdir, file):
    assert runner.invoke(app, ["ask", QUESTION]).exit_code == 0  # verified once: the stamp is written
    assert (workdir / "index" / ".verified.json").is_file()
    flip_a_byte(workdir / "index" / file)
    result = runner.invoke(app, ["ask", QUESTION])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (f"Error: index at index is corrupt or incomplete ({file} is damaged: its hash "
                             "is not the one the manifest records): run `qa index` to rebuild it\n")


def test_an_edited_passage_is_named(workdir):
    passages = workdir / "index" / "passages.jsonl"
    passages.write_text(passages.read_text().replace("Sweden", "Norway"))
    result = runner.invoke(app, ["ask", QUESTION])
    assert result.exit_code == 1
    assert "(passages.jsonl has the wrong size)" in result.stderr or "passages.jsonl is damaged" in result.stderr


def test_an_empty_array_file_is_named(workdir):
    (workdir / "index" / "sentence_spans.npy").write_bytes(b"")
    result = runner.invoke(app, ["ask", QUESTION])
    assert result.exit_code == 1
    assert result.stderr == ("Error: index at index is corrupt or incomplete (sentence_spans.npy has the wrong "
                             "size): run `qa index` to rebuild it\n")


def test_an_index_without_file_hashes_is_rebuilt_by_ask_and_never_loaded(workdir):
    manifest = read_manifest(workdir / "index")
    del manifest["file_hashes"]
    (workdir / "index" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Exception, match="the manifest records no file hashes"):
        load_index(workdir / "index")
    result = runner.invoke(app, ["ask", "--json", QUESTION])
    assert result.exit_code == 0
    assert result.stderr.startswith("qa: index is stale (it was built by an older qa, which recorded no hashes")
    assert "file_hashes" in read_manifest(workdir / "index")


def test_the_verified_stamp_spares_hashing_an_unchanged_index(workdir, monkeypatch):
    from qa.store.local import folder as index_folder

    load_index(workdir / "index")
    hashed = []
    real = index_folder.file_hash
    monkeypatch.setattr(index_folder, "file_hash", lambda path, *how: hashed.append(Path(path).name) or real(path, *how))
    load_index(workdir / "index")
    assert hashed == []
    flip_a_byte(workdir / "index" / "dense.faiss")
    with pytest.raises(Exception, match="dense.faiss is damaged"):
        load_index(workdir / "index")
    assert hashed == ["dense.faiss"]  # only the changed file is hashed again


def test_an_index_whose_manifest_records_sha256_is_still_checked(workdir):
    """Indexes written before the hashes were XXH3 record SHA-256: they load, and damage is found."""
    from qa.ingest.document import file_sha256

    index_dir = workdir / "index"
    manifest = read_manifest(index_dir)
    manifest["file_hashes"] = {name: {"sha256": file_sha256(index_dir / name), "size": record["size"]}
                               for name, record in manifest["file_hashes"].items()}
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    (index_dir / ".verified.json").unlink()
    assert len(load_index(index_dir).passages) > 0
    flip_a_byte(index_dir / "bm25" / "vocab.json", keep_mtime=False)
    with pytest.raises(Exception, match="bm25/vocab.json is damaged"):
        load_index(index_dir)


def test_sentence_spans_past_the_passages_are_refused_at_load(tmp_path, seed_index_dir):
    """As a faulty build would write them (hashes recorded): caught by the load's own checks."""
    import numpy as np

    from conftest import record_hashes_again

    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
    spans = np.load(index_dir / "sentence_spans.npy")
    spans[:, 0] += 1000
    np.save(index_dir / "sentence_spans.npy", spans)
    record_hashes_again(index_dir)
    with pytest.raises(Exception, match="sentence spans name passages the index does not have"):
        load_index(index_dir)


def test_a_stamp_cut_short_does_not_make_an_index_foreign(home, embedder):
    build_index([home / "notes"], home / "index", embedder)
    (home / "index" / "..verified.json.x1y2z3").write_text("{")  # a crash between write and rename
    assert runner.invoke(app, ["index", "notes", "--index-dir", "index"]).exit_code == 0
