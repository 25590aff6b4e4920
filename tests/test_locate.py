"""Finding the index as git finds a repository: `qa index FOLDER` makes FOLDER/.qa, found from any folder
below; `qa init`; named indexes in the user data folder; `qa status`; old `index/` folders still used."""

import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from conftest import SEED, without_progress
from qa.cli import app

runner = CliRunner()
QUESTION = "Which country is the protecting power for the US in North Korea?"
BUILT = r"in \d+\.\d s\n"  # how long a build took: the one figure a test cannot know


@pytest.fixture
def notes(tmp_path, monkeypatch):
    """A folder of notes (the seed article) with subfolders; the runner works in the folder above it,
    with no index named anywhere and the user data folder in tmp_path/data."""
    folder = tmp_path / "notes"
    (folder / "deep" / "er").mkdir(parents=True)
    shutil.copy(SEED, folder / SEED.name)
    monkeypatch.chdir(tmp_path)
    for name in ("QA_INDEX", "QA_MODEL", "QA_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return folder


def ask(*args: str) -> dict:
    result = runner.invoke(app, ["ask", "--json", "-k", "1", QUESTION, *args])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # a current index, found and used silently
    return json.loads(result.stdout)


def test_index_folder_makes_its_own_dot_qa_found_from_any_folder_below(notes, tmp_path, monkeypatch):
    result = runner.invoke(app, ["index", "notes"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"Indexed 32 passages from 1 file into notes/\.qa/ " + BUILT, result.stdout)
    assert (notes / ".qa" / "manifest.json").is_file() and not (tmp_path / "index").exists()
    monkeypatch.chdir(notes / "deep" / "er")
    assert "Sweden" in ask()["passages"][0]["text"]
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    assert re.fullmatch(
        rf"Index:     {re.escape(str(notes / '.qa'))} \(found from the current folder\)\n"
        rf"Corpus:    {re.escape(str(notes))}\n"
        r"Documents: 1 \(1 text\)\n"
        r"Passages:  32\n"
        r"Built:     \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 with all-MiniLM-L6-v2: current\n"
        r"Disk:      \d+\.\d kB(, and \d+\.\d MB shared with qa's cache \(the model\))?\n", status.stdout)


def test_qa_index_with_no_path_updates_the_index_found_and_status_says_when_it_is_stale(notes, monkeypatch):
    assert runner.invoke(app, ["index", "notes"]).exit_code == 0
    (notes / "deep" / "later.txt").write_text("Later\n\nThe harbour opened at dawn in 2031.\n")
    monkeypatch.chdir(notes / "deep")
    status = runner.invoke(app, ["status"])
    assert ": current" not in status.stdout
    assert "stale: corpus files added deep/later.txt (qa ask rebuilds it, or run qa index)\n" in status.stdout
    result = runner.invoke(app, ["index"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"Indexed 33 passages from 2 files into {re.escape(str(notes / '.qa'))}/ in \d+\.\d s "
                        r"\(embedded \d+ new texts, reused \d+\)\n", result.stdout)
    assert runner.invoke(app, ["status"]).stdout.splitlines()[4].endswith(": current")


def test_init_indexes_the_current_folder_into_dot_qa(notes, monkeypatch):
    monkeypatch.chdir(notes)
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"Indexed 32 passages from 1 file into \.qa/ " + BUILT, result.stdout)
    assert runner.invoke(app, ["status"]).stdout.startswith("Index:     .qa (found from the current folder)\n")


def test_a_named_index_lives_in_the_user_data_folder_and_is_asked_from_anywhere(notes, tmp_path, monkeypatch):
    result = runner.invoke(app, ["index", "notes", "--name", "work"])
    assert result.exit_code == 0, result.output
    place = tmp_path / "data" / "qa" / "indexes" / "work"
    assert re.fullmatch(rf"Indexed 32 passages from 1 file into {re.escape(str(place))}/ " + BUILT, result.stdout)
    assert not (notes / ".qa").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert "Sweden" in ask("--name", "work")["passages"][0]["text"]
    status = runner.invoke(app, ["status", "--name", "work"])
    assert status.stdout.startswith(f"Index:     {place} (--name work)\n")


def test_the_index_inside_its_folder_is_never_read_as_a_document(notes, monkeypatch):
    (notes / "page.html").write_text("<html><body><h1>Harbour</h1><p>The harbour opened at dawn.</p></body></html>")
    first = runner.invoke(app, ["index", "notes"])
    assert (notes / ".qa" / "texts").is_dir()  # the page's extracted text is kept in the index
    again = runner.invoke(app, ["index", "notes", "--full"])
    assert "from 2 files into notes/.qa/" in first.stdout and "from 2 files into notes/.qa/" in again.stdout
    monkeypatch.chdir(notes)
    ask()  # not stale: the index's own files are not corpus files


def test_an_old_index_folder_in_the_current_folder_is_still_used_and_updated(workdir):
    assert "Sweden" in ask()["passages"][0]["text"]
    status = runner.invoke(app, ["status"])
    assert status.stdout.startswith("Index:     index (the default: no .qa/ here or above)\n")
    result = runner.invoke(app, ["index", "corpus"])  # index/ was built from corpus/: it is the one updated
    assert re.fullmatch(r"Indexed 32 passages from 1 file into index/ " + BUILT, result.stdout)
    assert not (workdir / "corpus" / ".qa").exists()


def test_a_dot_qa_above_is_found_before_an_index_folder_is_made(notes, monkeypatch):
    assert runner.invoke(app, ["index", "notes"]).exit_code == 0
    (notes / "deep" / "later.txt").write_text("Later\n\nThe harbour opened at dawn in 2031.\n")
    monkeypatch.chdir(notes / "deep")
    result = runner.invoke(app, ["ask", "--json", "-k", "1", "When did the harbour open?"])
    assert without_progress(result.stderr) == "qa: index is stale (corpus files added deep/later.txt); rebuilding it\n"
    assert not (notes / "deep" / "index").exists()


@pytest.mark.parametrize("args, message", [
    (["status", "--name", "a/b"], "Error: --name 'a/b' is not a name: letters, digits, '.', '_' and '-', up to 64, "
                                  "starting with a letter or digit\n"),
    (["ask", "hi", "--name", "w", "--index-dir", "x"], "Error: give either --index-dir or --name, not both\n"),
    (["status"], "Error: no index at index (the default: no .qa/ here or above): run `qa index FOLDER` to make "
                 "FOLDER/.qa, or give --index-dir DIR or --name NAME\n"),
    (["status", "--name", "none"], None),
])
def test_mistakes_are_one_error_line(notes, tmp_path, args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    if message is None:  # the named index that was never made
        place = tmp_path / "data" / "qa" / "indexes" / "none"
        message = (f"Error: no index at {place} (--name none): run `qa index FOLDER` to make FOLDER/.qa, "
                   f"or give --index-dir DIR or --name NAME\n")
    assert result.stderr == message
    assert result.stdout == ""
