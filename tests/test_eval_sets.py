"""`qa eval SET_DIR`: a folder of questions.jsonl and corpus/ (or set.toml naming it) scored against its own
cached index, and questions never scored against an index that holds none of their evidence."""

import json
import os
import shutil

import pytest
from typer.testing import CliRunner

from conftest import ROOT, SEED, without_progress
from qa.cli import app

runner = CliRunner()


@pytest.fixture
def sets(tmp_path, monkeypatch, seed_index_dir):
    """tmp_path/seed: the seed article and six of the hand-written questions about it (five answerable);
    qa's cache in tmp_path/cache, holding the model's ONNX export (linked: the seed index made it);
    the runner works in tmp_path."""
    from qa.cache import cache_dir

    shutil.copytree(cache_dir() / "onnx", tmp_path / "cache" / "onnx", copy_function=os.link)
    folder = tmp_path / "seed"
    (folder / "corpus").mkdir(parents=True)
    shutil.copy(SEED, folder / "corpus" / SEED.name)
    lines = (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    chosen = [r for r in records if r["answerable"]][:5] + [r for r in records if not r["answerable"]][:1]
    (folder / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chosen), encoding="utf-8")
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("QA_INDEX", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_set_folder_is_scored_against_its_own_cached_index(sets):
    first = runner.invoke(app, ["eval", "seed", "--json"])
    assert first.exit_code == 0, first.output
    cached = list((sets / "cache" / "eval").iterdir())
    assert [p.name.startswith("seed-") for p in cached] == [True]
    assert without_progress(first.stderr) == f"qa: indexing seed/corpus for the set into {cached[0]}\n"
    report = json.loads(first.stdout)
    assert report["questions"] == 6 and report["unmatched_evidence"] == []
    assert report["runs"]["hybrid"]["metrics"]["hit_rate@5"] >= 0.8  # the hand-written set's figure is 0.984
    again = runner.invoke(app, ["eval", "seed", "--json"])
    assert again.exit_code == 0 and again.stderr == ""  # the cached index is current: used as it is
    assert json.loads(again.stdout)["runs"]["hybrid"]["metrics"] == report["runs"]["hybrid"]["metrics"]
    assert not (sets / "index").exists() and not (sets / "seed" / "corpus" / ".qa").exists()


def test_set_toml_names_a_corpus_elsewhere(sets):
    (sets / "other").mkdir()
    shutil.copy(sets / "seed" / "questions.jsonl", sets / "other" / "questions.jsonl")
    (sets / "other" / "set.toml").write_text('corpus = "../seed/corpus"\n')
    result = runner.invoke(app, ["eval", "other", "--json"])
    assert result.exit_code == 0, result.output
    seed = json.loads(runner.invoke(app, ["eval", "seed", "--json"]).stdout)
    assert json.loads(result.stdout)["runs"]["hybrid"]["metrics"] == seed["runs"]["hybrid"]["metrics"]
    assert len(list((sets / "cache" / "eval").iterdir())) == 2  # a set's own index each


def test_questions_are_not_scored_against_an_index_of_another_corpus(workdir):
    result = runner.invoke(app, ["eval", str(ROOT / "eval" / "mixed" / "questions.jsonl")])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: the index at index holds none of the questions' evidence (an index of another corpus?): give the "
        "set's folder instead, e.g. qa eval eval/mixed (its questions.jsonl and corpus/), or --index-dir an index "
        "of the set's corpus\n")
    assert result.stdout == ""


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "Error: bad holds no questions.jsonl: an evaluation set folder holds questions.jsonl and "
                     "corpus/ (or a set.toml naming its corpus)\n"),
    (lambda d: (d / "questions.jsonl").write_text(""),
     "Error: bad has questions.jsonl but no corpus/ folder and no set.toml naming its corpus\n"),
    (lambda d: ((d / "questions.jsonl").write_text(""), (d / "set.toml").write_text("corpus = 3\n")),
     "Error: bad/set.toml must name the set's corpus: corpus = \"FOLDER\" (relative to bad)\n"),
    (lambda d: ((d / "questions.jsonl").write_text(""), (d / "set.toml").write_text("corpus = [\n")),
     None),
])
def test_a_folder_that_is_not_a_set_is_one_error_line(sets, make, message):
    (sets / "bad").mkdir()
    make(sets / "bad")
    result = runner.invoke(app, ["eval", "bad"])
    assert result.exit_code == 2
    if message is None:  # TOML's own words for where it stopped
        assert result.stderr.startswith("Error: cannot read bad/set.toml: ") and result.stderr.count("\n") == 1
    else:
        assert result.stderr == message
