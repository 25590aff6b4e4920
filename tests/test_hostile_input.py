"""What a careless or hostile user can give the CLI: damaged manifests, bad Qdrant URLs and collection
names, folders that are not qa's, and documents whose names and text carry terminal controls (issue 32).
Each is one `Error:` line (or safe output), and nothing of the user's is written or deleted."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from hypothesis import given, strategies as st
from typer.testing import CliRunner

from qa.cli import app
from test_index_safety import home, snapshot  # noqa: F401  (home: a user's folder, as a fixture)

runner = CliRunner()


def one_error(result) -> str:
    lines = result.stderr.splitlines()
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (1, 2) and len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("damage, said", [
    (lambda m: m.__setitem__("sourcesX", m.pop("sources")), "manifest.json has no valid 'sources'"),
    (lambda m: m.__setitem__("files", {"not": "a list"}), "manifest.json has no valid 'files'"),
    (lambda m: m.pop("model"), "manifest.json has no valid 'model'"),
    (None, "manifest.json is not valid JSON: Expecting ',' delimiter: line 1 column 23 (char 22)"),
])
def test_a_damaged_manifest_is_one_error_naming_it(workdir, damage, said):
    path = workdir / "index" / "manifest.json"
    if damage is None:
        path.write_text('{"format": "qa-index" "x"}')
    else:
        manifest = json.loads(path.read_text())
        damage(manifest)
        path.write_text(json.dumps(manifest))
    for args in (["ask", "who leads the talks?"], ["text", "north-korea-diplomacy.txt"]):
        assert said in one_error(runner.invoke(app, args))


@pytest.mark.parametrize("url, said", [
    ("http://[::1", "Error: --qdrant-url 'http://[::1' is not a valid URL (Invalid IPv6 URL): give http(s)://host:port"),
    ("http://localhost:99999", "Error: --qdrant-url 'http://localhost:99999' is not a valid URL (Port out of range "
                               "0-65535): give http(s)://host:port"),
])
def test_a_bad_qdrant_url_is_one_error(home, url, said):  # noqa: F811
    for args in (["ask", "who?"], ["text", "a.txt"], ["index", "notes"]):
        assert one_error(runner.invoke(app, [*args, "--store", "qdrant", "--qdrant-url", url])) == said


@pytest.mark.parametrize("name", ["", "a/b", "../../x", "..", ".hidden", "x" * 201])
@pytest.mark.parametrize("where", ["local", "edge:store"])
def test_a_collection_name_that_is_not_one_writes_nothing(home, name, where):  # noqa: F811
    before = snapshot(home)
    for args in (["ask", "who?"], ["index", "notes"]):
        said = one_error(runner.invoke(app, [*args, "--store", "qdrant", "--qdrant-url", where, "--collection", name]))
        assert said.startswith(f"Error: --collection {name!r} is not a collection name")
    assert snapshot(home) == before and not (home / "local").exists() and not (home / "store").exists()
    assert not (home.parent / "x").exists()


def test_qdrant_local_mode_writes_only_into_its_own_folders(home):  # noqa: F811
    (home / "other").mkdir()
    (home / "other" / "meta.json").write_text('{"another": "program"}')
    (home / "empty").mkdir()
    before = snapshot(home)
    for args in (["ask", "who?", "--qdrant-url", "other"], ["index", "notes", "--qdrant-url", "other"],
                 ["ask", "who?", "--qdrant-url", "notes"], ["index", "notes", "--qdrant-url", "photos"]):
        said = one_error(runner.invoke(app, [*args, "--store", "qdrant"]))
        assert "is not a folder of Qdrant's storage (it holds other files)" in said
    for folder in ("empty", "missing", "edge:empty", "edge:missing"):  # a reader never makes a folder
        said = one_error(runner.invoke(app, ["ask", "who?", "--store", "qdrant", "--qdrant-url", folder]))
        assert said == (f"Error: no collection qa at {folder}: run `qa index --store qdrant --qdrant-url {folder} "
                        f"--collection qa`")
    assert snapshot(home) == before and sorted(os.listdir(home / "empty")) == [] and not (home / "missing").exists()


@pytest.mark.parametrize("inside", ["texts", "bm25"])
def test_a_users_file_inside_an_index_subfolder_is_never_deleted(home, inside):  # noqa: F811
    shutil.copy(home / "notes" / "north-korea-diplomacy.txt", home / "notes" / "page.html")
    assert runner.invoke(app, ["index", "notes", "--index-dir", "index"]).exit_code == 0
    (home / "index" / inside / "mine.txt").write_text("the user's own file")
    before = snapshot(home / "index")
    said = one_error(runner.invoke(app, ["index", "notes", "--index-dir", "index", "--full"]))
    assert said == (f"Error: --index-dir index is a qa index but also holds files qa did not write "
                    f"({inside}/mine.txt): move them out first (nothing was changed)")
    assert snapshot(home / "index") == before


def test_an_index_folder_reached_through_a_link_into_the_corpus_is_refused(home):  # noqa: F811
    (home / "shortcut").symlink_to(home / "notes")
    before = snapshot(home / "notes")
    said = one_error(runner.invoke(app, ["index", "notes", "--index-dir", "shortcut/index"]))
    assert said == (f"Error: --index-dir shortcut/index lies inside the corpus folder {home}/notes: put the index "
                    f"outside it (nothing was changed)")
    # and a corpus given through a link to it, the index inside the real folder
    (home / "notes-link").symlink_to(home / "notes")
    said = one_error(runner.invoke(app, ["index", "notes-link", "--index-dir", "notes/index"]))
    assert "lies inside the corpus folder" in said
    assert snapshot(home / "notes") == before


def test_names_and_text_reach_the_terminal_escaped(tmp_path, embedder, shared_model, monkeypatch):
    from qa.store.local.build import build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "two\nlines [9] fake.md").write_text(
        "# Talks\n\nSweden is the protecting power for the US in North Korea.\x1b[2J\x1b]8;;http://evil/\x07x\n")
    (corpus / "page.html").write_text(
        "<html><body><h1>Power</h1><p>Sweden acts as the protecting power &#x1b;[2J in North Korea "
        "\u202eevil\u202c.</p></body></html>")
    build_index([corpus], tmp_path / "index", embedder)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["ask", "Which country is the protecting power in North Korea?", "--index-dir",
                                 "index", "-k", "5"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "two\\nlines [9] fake.md" in out and "\\x1b[2J" in out and "\\u202e" in out
    assert not any(line.startswith("[9]") for line in out.splitlines())
    as_json = json.loads(runner.invoke(app, ["ask", "protecting power", "--index-dir", "index", "--json"]).stdout)
    assert any(p["doc"] == "two\nlines [9] fake.md" for p in as_json["passages"])  # data kept as it is


@given(st.text())
def test_printable_leaves_no_control_character_and_hides_nothing(text):
    import unicodedata

    from qa.serve.terminal import printable

    for lines in (False, True):
        shown = printable(text, lines=lines)
        kept = "\n\t" if lines else ""
        assert not any(unicodedata.category(c) == "Cc" and c not in kept for c in shown)
        assert not any(c in shown for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
        # text with nothing to escape is shown as it is; else each escape is longer than its character (\\r: 2)
        unsafe = [c for c in text if (unicodedata.category(c) == "Cc" and c not in kept) or
                  c in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]
        assert (shown == text) == (not unsafe) and len(shown) >= len(text) + len(unsafe)


@given(st.text(max_size=300))
def test_an_accepted_collection_name_is_never_a_path(name):
    from qa.errors import QAError
    from qa.store.qdrant.engines import check_collection

    try:
        check_collection(name)
    except QAError:
        return
    assert "/" not in name and "\\" not in name and not name.startswith(".") and name.strip() == name and name
