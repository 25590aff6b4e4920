"""The `qa` command through typer's runner: help, answers, JSON, and every kind of bad input."""

import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from conftest import ROOT, without_progress
from qa import __version__
from qa.cli import app
from qa.console import NOT_IN_CORPUS, print_answer, progress_lines
from qa.store.local.index import load_index, read_manifest
from qa.search.retrieval import Answer, Highlight, Hit

runner = CliRunner()
PROTECTING = "Which country is the protecting power for the US in North Korea?"


def test_every_command_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = [c.name for c in app.registered_commands]
    assert {"index", "ask"} <= set(commands)
    for name in commands:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example: qa " in result.stdout, name


def test_version():
    result = runner.invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"qa {__version__}\n")


def test_help_names_values_instead_of_typing_them():
    result = runner.invoke(app, ["ask", "--help"], prog_name="qa", terminal_width=100)
    assert result.exit_code == 0
    assert "Usage: qa ask [OPTIONS] QUESTION\n" in result.stdout
    assert "  QUESTION  The question, in plain English.  [required]\n" in result.stdout
    assert "  -k, --k K " in result.stdout and "  --index-dir INDEX_DIR " in result.stdout
    assert "Each passage ends with its score" in result.stdout  # scores are explained where they are shown
    index_help = runner.invoke(app, ["index", "--help"], prog_name="qa", terminal_width=100).stdout
    assert "Usage: qa index [OPTIONS] [PATHS]...\n" in index_help
    assert "  [PATHS]...  Files or folders to index (default: the sources of the index found" in index_help
    top = runner.invoke(app, ["--help"], prog_name="qa", terminal_width=100).stdout
    assert "  ask     Answer a question with cited passages, best first.\n" in top
    assert "..." not in top.split("Commands:")[1]  # no first sentence cut short
    for name in ["--help", "index", "ask", "text", "serve", "eval", "init", "status", "keys add", "keys list"]:
        shown = runner.invoke(app, [*name.split(), "--help"] if name != "--help" else [name], terminal_width=100).stdout
        assert "Usage:" in shown, name
        assert not re.search(r"<(bool|str|int|path|list\[\w+\])>|\{\w+\}", shown), shown


def test_piped_answer_marks_the_best_sentence(workdir):
    result = runner.invoke(app, ["ask", PROTECTING, "-k", "1"])
    assert result.exit_code == 0
    body = " ".join(line.strip() for line in result.stdout.splitlines()[1:])
    marked = re.findall(r"»([^«]+)«", body)
    assert marked == ["Sweden acts as the protecting power for the US in North Korea and provides limited consular "
                      "services to US citizens through its embassy in Pyongyang."]


def test_no_command_function_takes_over_six_parameters():
    """The shared options reach a command as one Settings (cli.settings_from), not one parameter each."""
    import inspect

    for command in app.registered_commands:
        own = inspect.signature(command.callback.__wrapped__).parameters
        assert len(own) <= 6, (command.name, list(own))


def test_shared_options_come_from_flags_then_the_environment(workdir, monkeypatch):
    source = (workdir / "corpus" / "north-korea-diplomacy.txt").read_text(encoding="utf-8")
    monkeypatch.setenv("QA_INDEX", "nowhere")
    result = runner.invoke(app, ["text", "north-korea-diplomacy.txt"])
    assert result.exit_code != 0 and "nowhere" in result.stderr
    result = runner.invoke(app, ["text", "north-korea-diplomacy.txt", "--index-dir", "index"])
    assert (result.exit_code, result.stdout) == (0, source)
    monkeypatch.setenv("QA_STORE", "elsewhere")
    result = runner.invoke(app, ["text", "north-korea-diplomacy.txt"])
    assert (result.exit_code, result.stderr) == (2, "Error: --store must be local or qdrant, not 'elsewhere'\n")


def test_ask_json_puts_sweden_first(workdir):
    result = runner.invoke(app, ["ask", "--json", PROTECTING])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["question"] == PROTECTING
    assert len(answer["passages"]) == 5
    first = answer["passages"][0]
    assert "Sweden" in first["text"]
    assert set(first) >= {"id", "doc", "section", "start", "end", "score", "text"}
    source = (workdir / "corpus" / first["doc"]).read_text(encoding="utf-8")
    assert source[first["start"]:first["end"]] == first["text"]
    assert result.stderr == ""  # a current index is used silently


def test_ask_text_shows_citation_lines(workdir):
    result = runner.invoke(app, ["ask", PROTECTING, "-k", "2", "--mode", "dense"])
    assert result.exit_code == 0
    answer = json.loads(runner.invoke(app, ["ask", "--json", PROTECTING, "-k", "2", "--mode", "dense"]).stdout)
    citations = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert citations == [
        f"[{n}] {p['doc']} › {p['section']} (chars {p['start']}–{p['end']}) {p['score']:.3f}"
        for n, p in enumerate(answer["passages"], 1)
    ]


def test_print_answer_wraps_text_under_its_citation_and_emphasizes_the_highlight():
    from io import StringIO

    from rich.console import Console

    hit = Hit(id="x", doc="a.txt", section="Intro", start=10, end=33, score=0.5, text="one two three four five",
              highlight=Highlight(18, 28, "three four"))
    plain = StringIO()
    print_answer(Answer("q", (hit,), answerable=False), Console(file=plain, width=24, highlight=False))
    assert plain.getvalue() == (  # not a terminal: the best sentence is marked in the text
        f"{NOT_IN_CORPUS}\n[1] a.txt › Intro (chars 10–33) 0.500\n    one two »three four«\n    five\n"
    )
    styled = StringIO()
    print_answer(Answer("q", (hit,)), Console(file=styled, width=40, force_terminal=True, color_system="standard"))
    assert "\x1b[1;33mthree four\x1b[0m" in styled.getvalue()
    assert "»" not in styled.getvalue()  # on a terminal the bold is the mark


@pytest.mark.parametrize(
    "args, message",
    [
        (["ask", ""], "Error: the question is empty: ask something, e.g. \"who leads the talks?\"\n"),
        (["ask", "   "], "Error: the question is empty: ask something, e.g. \"who leads the talks?\"\n"),
        (["ask", "hi", "-k", "0"], "Error: k must be a whole number from 1 to 100, not 0\n"),
        (["ask", "hi", "-k", "101"], "Error: k must be a whole number from 1 to 100, not 101\n"),
        (["ask", "hi", "--mode", "magic"], "Error: mode must be one of dense, bm25, hybrid, not 'magic'\n"),
        (["index", "no/such/folder"], "Error: corpus path does not exist: no/such/folder\n"),
        (["serve", "--port", "99999"], "Error: --port must be a whole number from 1 to 65535, not 99999\n"),
        (["serve", "--port", "0"], "Error: --port must be a whole number from 1 to 65535, not 0\n"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(workdir, args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr == message
    assert result.stdout == ""


def test_folder_without_documents(workdir):
    (workdir / "empty").mkdir()
    (workdir / "empty" / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    result = runner.invoke(app, ["index", "empty"])
    assert result.exit_code == 2
    assert result.stderr == "Error: no .txt, .md, .pdf, .html or .docx files found in empty\n"


def test_folder_whose_every_document_is_unreadable(workdir):
    (workdir / "bad").mkdir()
    (workdir / "bad" / "notes.pdf").write_bytes(b"%PDF")
    result = runner.invoke(app, ["index", "bad", "--index-dir", "bad-index"])
    assert result.exit_code == 2
    assert result.stderr == ("qa: skipped notes.pdf: not a readable PDF (Failed to load document (PDFium: Data "
                             "format error).)\nError: no readable documents to index (every file was skipped)\n")


def test_corrupt_index_says_run_qa_index(workdir):
    (workdir / "index" / "dense.faiss").write_bytes(b"\x00" * 10)
    result = runner.invoke(app, ["ask", PROTECTING])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: index at index is corrupt or incomplete (")
    assert result.stderr.endswith("run `qa index` to rebuild it\n")
    assert "Traceback" not in result.output


def test_stale_index_is_rebuilt_and_said(workdir):
    seed = workdir / "corpus" / "north-korea-diplomacy.txt"
    seed.write_text(seed.read_text() + "\n\nLate news\n\nMongolia hosted a quiet round of talks in 2031.\n")
    result = runner.invoke(app, ["ask", "--json", "Which country hosted talks in 2031?", "-k", "1"])
    assert result.exit_code == 0, result.output
    assert without_progress(result.stderr) == "qa: index is stale (north-korea-diplomacy.txt changed); rebuilding it\n"
    assert "Mongolia" in json.loads(result.stdout)["passages"][0]["text"]
    again = runner.invoke(app, ["ask", "--json", "Which country hosted talks in 2031?", "-k", "1"])
    assert again.stderr == ""


def test_missing_index_is_built_from_corpus(workdir):
    shutil.rmtree(workdir / "index")
    result = runner.invoke(app, ["ask", "--json", PROTECTING, "-k", "1"])
    assert result.exit_code == 0, result.output
    assert without_progress(result.stderr) == "qa: no index at index; building it\n"
    assert "Sweden" in json.loads(result.stdout)["passages"][0]["text"]


def test_index_command_reports_what_it_built(workdir):
    result = runner.invoke(app, ["index", "corpus", "--index-dir", "other"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"Indexed 32 passages from 1 file into other/ in \d+\.\d s\n", result.stdout)
    assert re.fullmatch(r"[0-9a-f]{64}", read_manifest(workdir / "other")["files"][0]["sha256"])


def test_ask_says_when_the_answer_is_not_in_the_corpus(workdir):
    result = runner.invoke(app, ["ask", "What is the melting point of tungsten?", "-k", "2"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == NOT_IN_CORPUS
    assert lines[1].startswith("[1] north-korea-diplomacy.txt › ")
    as_json = json.loads(runner.invoke(app, ["ask", "--json", "What is the melting point of tungsten?"]).stdout)
    assert as_json["answerable"] is False and len(as_json["passages"]) == 5


def test_no_index_and_no_corpus_says_how_to_build_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QA_INDEX", raising=False)
    result = runner.invoke(app, ["ask", "who leads the talks?"])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: no index at index/ and none can be built (corpus path does not exist: corpus): run "
        "`qa index FOLDER` first (it makes FOLDER/.qa, found from FOLDER and any folder below), or give "
        "--index-dir DIR or --name NAME\n"
    )


def test_progress_off_a_terminal_is_a_line_every_few_seconds_with_the_time_left(capsys):
    now = iter([0, 0, 10, 10, 12, 12, 14, 14, 100, 100])  # started, then each step reads the clock twice
    step = progress_lines("Embedding passages", 3000, every=0, clock=lambda: next(now))
    step(1000)  # 10 s for the first batch, the model's loading included: 20 s more at that pace
    step(500)  # 1,500 in 12 s: 1,500 more take 12 s
    step(500)  # 2,000 in 14 s: 1,000 more take 7 s
    step(1000)
    assert capsys.readouterr().err == ("qa: Embedding passages: 1,000/3,000 (33%), about 20 s left\n"
                                       "qa: Embedding passages: 1,500/3,000 (50%), about 12 s left\n"
                                       "qa: Embedding passages: 2,000/3,000 (66%), about 7 s left\n"
                                       "qa: Embedding passages: 3,000/3,000 (100%)\n")
    quiet = progress_lines("Embedding passages", 10, every=3600)
    quiet(10)  # a build shorter than the interval says nothing
    assert capsys.readouterr().err == ""


def test_index_counts_passages_and_sentences_apart_and_ends_with_files_pages_and_time(workdir, monkeypatch):
    from qa import cli

    seen = []
    monkeypatch.setattr(cli, "_progress_bar", lambda label="Embedding": lambda total, kind: seen.append((kind, total))
                        or (lambda n: None))
    shutil.copytree(ROOT / "eval" / "mixed" / "corpus", workdir / "mixed")
    for name in ["bzip2-manual.html", "fontconfig-user.html", "bc.html", "libtasn1.pdf", "base-passwd.docx"]:
        (workdir / "mixed" / name).unlink()
    result = runner.invoke(app, ["index", "mixed", "--index-dir", "mixed-index"])
    assert result.exit_code == 0, result.output
    index = load_index(workdir / "mixed-index")
    sentences = len(index.sentence_spans)
    assert seen == [("passages", index.manifest["passage_count"]), ("sentences", sentences)]
    pages = len(index.documents["shared-mime-info-spec.pdf"]["pages"])
    assert re.fullmatch(rf"Indexed {index.manifest['passage_count']} passages \({pages} PDF pages\) from 2 files into "
                        r"mixed-index/ in \d+\.\d s\n", result.stdout)
