"""The evaluation: the question set itself, the metric code on hand-computed runs, `qa eval` and BEIR."""

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.config import Settings
from qa.errors import QAError
from qa.eval_report import failed_gates, parse_gates
from qa.evaluation import (EvalQuestion, evaluate_beir, evaluate_evalset, evaluate_questions, fold, ir_metrics, judge,
                           load_questions, page_accuracy, percentile)

from conftest import ROOT, SEED

runner = CliRunner()
EVALSET = ROOT / "eval" / "questions.jsonl"


@pytest.fixture(scope="session")
def questions():
    return load_questions(EVALSET)


# --- the question set ------------------------------------------------------------------------------

def test_set_size_and_ids(questions):
    assert len(questions) >= 40
    assert sum(not q.answerable for q in questions) >= 6
    assert len({q.id for q in questions}) == len(questions)
    assert any(q.question == "who is most responsible for the diplomacy with north korea" and len(q.evidence) >= 4
               for q in questions)


def test_every_evidence_string_is_in_one_paragraph_of_the_corpus(questions):
    paragraphs = [fold(p) for p in re.split(r"\n\s*\n", SEED.read_text(encoding="utf-8"))]
    for q in questions:
        if not q.answerable:
            assert q.evidence == (), q.id
        for evidence in q.evidence:
            assert any(fold(evidence) in p for p in paragraphs), (q.id, evidence)


def test_every_evidence_string_is_in_a_passage_of_the_index(questions, retriever):
    passages = [(p.id, fold(p.text)) for p in retriever.index.passages]
    for q in questions:
        found = judge(passages, q.evidence)
        assert set().union(*found.values()) == set(range(len(q.evidence))), q.id


MIXED = ROOT / "eval" / "mixed"
MANUALS = ROOT / "eval" / "manuals"
HOLDOUT = ROOT / "eval" / "holdout"


@pytest.mark.parametrize("folder, counts, formats", [
    (MIXED, (33, 8), {".pdf", ".html", ".docx"}),
    (MANUALS, (33, 8), {".pdf"}),
    (HOLDOUT, (32, 8), {".pdf", ".html"}),
])
def test_set_gold_is_in_the_readers_text_on_its_page(folder, counts, formats):
    """eval/mixed, eval/manuals and eval/holdout: every evidence string is in one paragraph of one corpus
    file as the readers extract it, and a PDF question's string is on its `page` (by the reader's page
    ranges and by pypdfium2's own text)."""
    import pypdfium2 as pdfium

    from qa.ingest import reader

    questions = load_questions(folder / "questions.jsonl")
    assert (sum(q.answerable for q in questions), sum(not q.answerable for q in questions)) == counts
    assert len({q.id for q in questions}) == len(questions)
    docs = {f.name: reader(f.suffix)(f, f.name, pytest.fail) for f in sorted((folder / "corpus").iterdir())}
    assert {Path(n).suffix for n in docs} == formats
    paragraphs = {n: [fold(p) for p in re.split(r"\n\s*\n", d.text)] for n, d in docs.items()}
    for q in questions:
        for evidence in q.evidence:
            holders = [n for n, ps in paragraphs.items() if any(fold(evidence) in p for p in ps)]
            assert holders, (q.id, evidence)
            if q.page is None:
                assert not any(n.endswith(".pdf") for n in holders), q.id  # a PDF answer says its page
                continue
            (name,) = holders
            start, end = docs[name].pages[q.page - 1]
            assert fold(evidence) in fold(docs[name].text[start:end]), (q.id, q.page)
            page_text = pdfium.PdfDocument(str(folder / "corpus" / name))[q.page - 1].get_textpage().get_text_range()
            assert fold(evidence) in fold(page_text), (q.id, q.page)


UNSEEN = ROOT / "eval" / "unseen"


def test_unseen_set_gold_is_in_the_readers_text():
    """eval/unseen: every evidence string is in exactly one paragraph of the HTML reader's text of its
    corpus (no index), and the set keeps its shape (32 answerable, 8 unanswerable)."""
    from qa.ingest import reader

    questions = load_questions(UNSEEN / "questions.jsonl")
    assert (sum(q.answerable for q in questions), sum(not q.answerable for q in questions)) == (32, 8)
    docs = {f.name: reader(f.suffix)(f, f.name, pytest.fail) for f in sorted((UNSEEN / "corpus").iterdir())}
    paragraphs = [fold(p) for d in docs.values() for p in re.split(r"\n\s*\n", d.text)]
    for q in questions:
        for evidence in q.evidence:
            assert sum(fold(evidence) in p for p in paragraphs) == 1, (q.id, evidence)


def test_fold_ignores_case_quotes_and_whitespace():
    assert fold("The \u2018One  Korea\u2019\n policy") == fold("the 'one korea' POLICY") == "the 'one korea' policy"
    assert fold("\u201cnuclear state\u201d") == '"nuclear state"'


@pytest.mark.parametrize("content, message", [
    (None, "no evaluation set"),
    ('{"id": "a", "question": "q?", "evidence": ["x"], "answerable": true}\n{oops\n', "line 2: not valid JSON"),
    ('{"id": "a", "question": "q?"}\n', "line 1: missing field(s) evidence, answerable"),
    ('{"id": "a", "question": "q?", "evidence": [], "answerable": true}\n', "needs at least one evidence"),
    ('{"id": "a", "question": "q?", "evidence": ["x"], "answerable": false}\n', "must have no evidence"),
    ('{"id": "a", "question": "q?", "evidence": [], "answerable": false}\n' * 2, "line 2: duplicate id 'a'"),
    ("\n", "has no questions"),
    *((f'{{"id": "a", "question": "q?", "evidence": ["x"], "answerable": true, "page": {page}}}\n',
       "page must be a whole number") for page in ("0", '"3"', "true", "1.5")),
    ('{"id": "a", "question": "q?", "evidence": [], "answerable": false, "page": 2}\n',
     "unanswerable question has no page"),
])
def test_bad_question_files_are_named(tmp_path, content, message):
    path = tmp_path / "set.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(QAError, match=re.escape(message)):
        load_questions(path)


# --- the metric code on fixed runs, against figures computed by hand -------------------------------

def test_ir_metrics_graded_hand_computed():
    qrels = {"a": {"d1": 2, "d3": 1, "d2": 0}, "b": {"x": 1}}
    run = {"a": ["d2", "d1", "d9"], "b": ["y"]}
    got = ir_metrics(qrels, run, ["ndcg@10", "mrr@10", "hit_rate@1", "hit_rate@3", "recall@100"])
    # a: DCG = 2/log2(3); ideal = 2/log2(2) + 1/log2(3); b finds nothing
    ndcg_a = (2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert got["ndcg@10"] == pytest.approx(ndcg_a / 2, abs=1e-4)
    assert got["mrr@10"] == pytest.approx(0.25)  # (1/2 + 0) / 2
    assert got["hit_rate@1"] == 0 and got["hit_rate@3"] == pytest.approx(0.5)
    assert got["recall@100"] == pytest.approx(0.25)  # a: 1 of its 2 relevant (grade 0 is not relevant)


def _fake_retriever(texts: dict[str, str], ranking: dict[str, list[str]], abstain: set[str] = frozenset(),
                    pages: dict[str, int] | None = None):
    """A stand-in retriever: fixed passages, a fixed ranking per question, an `answerable` flag, and the
    page each passage cites (`pages`; a passage not in it has none, as a passage of a text file)."""
    passages = [SimpleNamespace(id=pid, text=text) for pid, text in texts.items()]

    def answer(question, k):
        hits = tuple(SimpleNamespace(id=pid, section=f"s-{pid}", page=(pages or {}).get(pid))
                     for pid in ranking[question][:k])
        return SimpleNamespace(passages=hits, answerable=question not in abstain)

    return SimpleNamespace(
        store=SimpleNamespace(passages=lambda: iter(passages)),
        search=lambda qs, k, mode=None: [answer(q, k) for q in qs],
        ask=lambda q, k, mode=None: answer(q, k),
    )


def test_evaluate_questions_hand_computed():
    texts = {"p1": "Sweden is the \u2018protecting power\u2019.", "p2": "China shares a border.",
             "p3": "The Six-Party Talks failed.", "p4": "Nothing here."}
    questions = [
        EvalQuestion("q1", "who protects?", ("'PROTECTING power'",), True),  # relevant p1, ranked 1
        EvalQuestion("q2", "who talks?", ("border", "six-party talks"), True),  # p2 rank 3, p3 not retrieved
        EvalQuestion("q3", "unknown?", (), False),
        EvalQuestion("q4", "also unknown?", (), False),
    ]
    ranking = {"who protects?": ["p1", "p4", "p2"], "who talks?": ["p4", "p1", "p2"],
               "unknown?": ["p4"], "also unknown?": ["p1"]}
    retriever = _fake_retriever(texts, ranking, abstain={"unknown?", "who talks?"})
    report = evaluate_questions(retriever, questions, k=3, modes=["dense"])
    run = report["runs"]["dense"]
    m = run["metrics"]
    assert (report["answerable"], report["unanswerable"]) == (2, 2)
    assert m["hit_rate@1"] == 0.5 and m["hit_rate@3"] == 1.0
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3) / 2, abs=1e-4)
    # q2 has p2 and p3 relevant, finds p2 at rank 3: DCG 1/log2(4) = 0.5; ideal 1 + 1/log2(3)
    assert m["ndcg@10"] == pytest.approx((1 + 0.5 / (1 + 1 / math.log2(3))) / 2, abs=1e-4)
    assert m["recall@3"] == pytest.approx((1 + 0.5) / 2)  # q2 covers one of its two evidence strings
    assert run["misses"] == [{"id": "q2", "question": "who talks?", "first_relevant_rank": 3, "top_section": "s-p4"}]
    assert run["abstention"] == {"abstained": 1, "unanswerable": 2, "accuracy": 0.5, "false_abstentions": 1,
                                 "false_abstention_rate": 0.5, "answered_unanswerable": ["q4"],
                                 "abstained_answerable": ["q2"]}
    assert set(run["latency_ms"]) == {"p50", "p95"}
    assert "page_accuracy" not in m and "page_misses" not in run  # a set without pages: no page figures


def test_page_accuracy_hand_computed():
    """Of the questions with a page, the share whose first relevant hit in the top k cites that page."""
    texts = {"p1": "alpha on page one", "p2": "alpha again, page two", "p3": "beta on page three",
             "p4": "gamma", "p5": "delta, an unpaged file", "p6": "nothing"}
    pages = {"p1": 1, "p2": 2, "p3": 3, "p4": 4}
    questions = [
        EvalQuestion("a", "alpha?", ("alpha",), True, page=2),  # first relevant hit p1 (page 1): wrong
        EvalQuestion("b", "beta?", ("beta",), True, page=3),  # p3 at rank 2, page 3: right
        EvalQuestion("c", "gamma?", ("gamma",), True, page=4),  # p4 not in the top 2: wrong
        EvalQuestion("d", "delta?", ("delta",), True, page=1),  # p5 has no page: wrong
        EvalQuestion("e", "epsilon?", ("epsilon",), True, page=1),  # no passage holds it: left out
        EvalQuestion("f", "alpha, no page?", ("alpha",), True),  # no page asked for: left out
        EvalQuestion("u", "unknown?", (), False),
    ]
    ranking = {"alpha?": ["p1", "p2"], "beta?": ["p6", "p3"], "gamma?": ["p6", "p1", "p4"], "delta?": ["p5"],
               "epsilon?": ["p1"], "alpha, no page?": ["p2"], "unknown?": ["p6"]}
    report = evaluate_questions(_fake_retriever(texts, ranking, pages=pages), questions, k=2, modes=["dense"])
    run = report["runs"]["dense"]
    assert report["unmatched_evidence"] == ["e"]
    assert run["metrics"]["page_accuracy"] == 0.25  # b of a, b, c, d
    assert run["page_misses"] == [
        {"id": "a", "page": 2, "cited_page": 1, "first_relevant_rank": 1},
        {"id": "c", "page": 4, "cited_page": None, "first_relevant_rank": None},
        {"id": "d", "page": 1, "cited_page": None, "first_relevant_rank": 1}]
    assert failed_gates(report, parse_gates(["page=0.25", "page accuracy=0.2"])) == []
    assert failed_gates(report, parse_gates(["page=0.5"])) == ["dense Page acc. = 0.250 is below 0.5"]
    judged = {"x": {"p1": {0}}}
    assert page_accuracy([EvalQuestion("x", "?", ("alpha",), True)], judged, {"x": []}) is None  # no page in the set


def test_percentile_and_gates():
    assert percentile([10, 20, 30, 40], 50) == 25 and percentile([5], 95) == 5 and percentile([], 50) == 0
    report = {"runs": {"dense": {"metrics": {"ndcg@10": 0.8, "hit_rate@1": 0.5}}}}
    assert failed_gates(report, parse_gates(["nDCG@10=0.7", "hit@1=0.4"])) == []
    assert failed_gates(report, parse_gates(["ndcg@10=0.9"])) == ["dense nDCG@10 = 0.800 is below 0.9"]
    with pytest.raises(QAError, match="no figure named 'map'"):
        failed_gates(report, parse_gates(["map=0.1"]))
    with pytest.raises(QAError, match="METRIC=VALUE"):
        parse_gates(["ndcg@10"])
    report["runs"]["dense"]["abstention"] = {"accuracy": 0.75, "false_abstention_rate": 0.02}
    assert failed_gates(report, parse_gates(["abstention=0.75", "answered=0.98"])) == []
    assert failed_gates(report, parse_gates(["answered=1"])) == ["dense answered = 0.980 is below 1"]


# --- `qa eval` on the real seed index --------------------------------------------------------------

@pytest.fixture(scope="session")
def compare_report(seed_index_dir, embedder):
    """`qa eval --compare --json` once for the session (the model is shared, not reloaded)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("qa.embed.load_embedder", lambda model=None, **kw: embedder)
        mp.delenv("QA_MODEL", raising=False)
        result = runner.invoke(app, ["eval", str(EVALSET), "--compare", "--json", "--index-dir", str(seed_index_dir)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_eval_compare_json_report(compare_report, questions):
    from qa.search.retrieval import MODES

    report = compare_report
    assert report["questions"] == len(questions) and report["unmatched_evidence"] == [] and report["failed"] == []
    assert list(report["runs"]) == list(MODES)
    for mode, run in report["runs"].items():
        assert set(run["metrics"]) == {"hit_rate@1", "hit_rate@3", "hit_rate@5", "mrr@10", "ndcg@10", "recall@10"}
        assert all(0 <= v <= 1 for v in run["metrics"].values()), mode
        assert run["metrics"]["hit_rate@1"] <= run["metrics"]["hit_rate@3"] <= run["metrics"]["hit_rate@5"]
        assert 0 < run["latency_ms"]["p50"] <= run["latency_ms"]["p95"]
        assert all(m["first_relevant_rank"] != 1 for m in run["misses"])
    assert report["runs"]["dense"]["metrics"]["hit_rate@5"] >= 0.8  # a sanity floor, not a target


def test_eval_text_and_min_gate(tmp_path, seed_index_dir, shared_model):
    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(EVALSET.read_text(encoding="utf-8").splitlines()[1:4]) + "\n", encoding="utf-8")
    args = ["eval", str(small), "--mode", "dense", "--index-dir", str(seed_index_dir)]
    result = runner.invoke(app, [*args, "--min", "ndcg@10=0.1"])
    assert result.exit_code == 0, result.output
    assert "nDCG@10" in result.stdout and "dense" in result.stdout
    result = runner.invoke(app, [*args, "--min", "hit@1=1.01"])
    assert result.exit_code == 1
    assert "Error: quality gate failed: dense Hit@1 = " in result.stderr


def test_eval_bad_file_and_bad_options(tmp_path, seed_index_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"\n', encoding="utf-8")
    for args, message in [([str(bad)], "line 1: not valid JSON"), ([str(tmp_path / "none.jsonl")], "no evaluation set"),
                          (["--mode", "fuzzy"], "mode must be one of"), (["--min", "ndcg"], "METRIC=VALUE")]:
        result = runner.invoke(app, ["eval", *args, "--index-dir", str(seed_index_dir)])
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("Error: ") and message in result.stderr, args


# --- BEIR ------------------------------------------------------------------------------------------

def test_beir_end_to_end_and_index_reuse(beir_folder, tmp_path, embedder):
    warnings = []
    report = evaluate_beir(beir_folder, Settings(index_dir=tmp_path / "index"), modes=["dense", "bm25"], warn=warnings.append,
                           embedder=embedder)
    assert (report["documents"], report["queries"]) == (5, 2)
    dense = report["runs"]["dense"]["metrics"]
    assert set(dense) == {"ndcg@10", "recall@100", "mrr@10"}
    assert dense["mrr@10"] == 1.0 and dense["recall@100"] == 1.0 and 0.9 <= dense["ndcg@10"] <= 1.0
    abstention = report["runs"]["dense"]["abstention"]
    assert (abstention["unanswerable"], abstention["false_abstentions"]) == (0, 0)  # both queries answered
    assert Path(report["index"]).parent == tmp_path and any("embedding 5 BEIR passages" in w for w in warnings)
    warnings.clear()
    again = evaluate_beir(beir_folder, Settings(index_dir=tmp_path / "index"), modes=["dense"], warn=warnings.append, embedder=embedder)
    assert warnings == [] and again["runs"]["dense"]["metrics"] == dense


def test_beir_through_the_cli(beir_folder, tmp_path, shared_model):
    from qa.search.retrieval import DEFAULT_MODE

    result = runner.invoke(app, ["eval", "--beir", str(beir_folder), "--json", "--index-dir", str(tmp_path / "ix")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["queries"] == 2 and "ndcg@10" in report["runs"][DEFAULT_MODE]["metrics"]
    (beir_folder / "qrels" / "test.tsv").unlink()
    result = runner.invoke(app, ["eval", "--beir", str(beir_folder), "--index-dir", str(tmp_path / "ix")])
    assert result.exit_code == 2 and "Error: BEIR folder is missing qrels/test.tsv" in result.stderr


def test_qa_ask_searches_an_index_qa_eval_beir_built(beir_folder, tmp_path, shared_model):
    """Its source is a corpus.jsonl, which `qa index` does not read: current, it is searched as it is;
    stale, the error says how to rebuild it (never an attempt to index the .jsonl)."""
    assert runner.invoke(app, ["eval", "--beir", str(beir_folder), "--index-dir", str(tmp_path / "ix")]).exit_code == 0
    index_dir = next(tmp_path.glob("ix.beir-*"))
    result = runner.invoke(app, ["ask", "where is the eiffel tower", "--index-dir", str(index_dir), "-k", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["passages"][0]["id"] == "d1" and "stale" not in result.stderr
    with open(beir_folder / "corpus.jsonl", "a") as corpus:
        corpus.write(json.dumps({"_id": "d6", "title": "Moon", "text": "The Moon orbits the Earth."}) + "\n")
    result = runner.invoke(app, ["ask", "where is the eiffel tower", "--index-dir", str(index_dir)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: index at {index_dir} was built by `qa eval --beir` and is stale (corpus.jsonl changed): "
        f"run `qa eval --beir FOLDER` again to rebuild it")


# --- page accuracy end to end: a real three-page PDF through `qa index` and `qa eval` -------------

LIGHTHOUSE = (
    ("The Keeper's Day", "The keeper writes the weather into the log every morning at six. He reads the barometer, "
                         "notes the wind and the state of the sea, and signs the entry."),
    ("Supplies", "The supply boat comes out from the harbour on the first Tuesday of every month. It brings "
                 "oil, food and the post, and takes back the empty drums."),
    ("The Lamp", "Spare lamp bulbs are kept in the cellar beside the oil drums. A bulb is changed at dusk, "
                 "never at night, so that the light is not dark while the keeper works."),
)


def write_lighthouse_pdf(path: Path) -> Path:
    """Three pages, one section a page, written by reportlab."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    s = getSampleStyleSheet()
    story = [Paragraph("Lighthouse Notes", s["Title"])]
    for n, (heading, text) in enumerate(LIGHTHOUSE):
        story += [Paragraph(heading, s["Heading1"]), Paragraph(text, s["BodyText"])]
        if n < len(LIGHTHOUSE) - 1:
            story.append(PageBreak())
    SimpleDocTemplate(str(path), pagesize=A4, title="Lighthouse Notes").build(story)
    return path


def test_page_accuracy_on_a_real_pdf(tmp_path, embedder, shared_model):
    from qa.store.build import build_index

    (tmp_path / "corpus").mkdir()
    write_lighthouse_pdf(tmp_path / "corpus" / "lighthouse.pdf")
    build_index([tmp_path / "corpus"], tmp_path / "index", embedder)
    evalset = tmp_path / "pages.jsonl"
    evalset.write_text("".join(json.dumps(q) + "\n" for q in [
        {"id": "p1", "question": "When does the keeper write up the weather?", "evidence": ["every morning at six"],
         "answerable": True, "page": 1},
        {"id": "p2", "question": "How often does the supply boat come?", "evidence": ["first Tuesday of every month"],
         "answerable": True, "page": 2},
        {"id": "p3", "question": "Where are the spare bulbs kept?", "evidence": ["kept in the cellar"],
         "answerable": True, "page": 1},  # a wrong page on purpose: the bulbs are on page 3
        {"id": "p4", "question": "What does the boat take back?", "evidence": ["takes back the empty drums"],
         "answerable": True},  # no page: not counted
    ]), encoding="utf-8")
    report = evaluate_evalset(evalset, Settings(index_dir=tmp_path / "index"), k=3, modes=["dense", "bm25"])
    for mode, run in report["runs"].items():
        assert run["metrics"]["page_accuracy"] == pytest.approx(2 / 3, abs=1e-4), mode
        assert [(m["id"], m["cited_page"]) for m in run["page_misses"]] == [("p3", 3)], mode
    args = ["eval", str(evalset), "--mode", "dense", "-k", "3", "--index-dir", str(tmp_path / "index")]
    result = runner.invoke(app, [*args, "--min", "page=0.6"])
    assert result.exit_code == 0, result.output
    assert "Page acc." in result.stdout and "0.667" in result.stdout and "Page not cited" in result.stdout
    assert re.search(r"p3\s+1\s+p\. 3", result.stdout), result.stdout
    result = runner.invoke(app, [*args, "--min", "page=0.7", "--json"])
    assert result.exit_code == 1 and "dense Page acc. = 0.667 is below 0.7" in result.stderr
    assert json.loads(result.stdout)["runs"]["dense"]["metrics"]["page_accuracy"] == pytest.approx(0.6667)


def test_min_vs_allows_one_questions_worth_below_the_baseline():
    from qa.errors import QAError
    from qa.eval_report import failed_versus

    def report(hybrid, dense, judged=20):
        keys = ("hit_rate@1", "mrr@10", "ndcg@10")
        return {"answerable": judged, "runs": {"hybrid": {"metrics": dict(zip(keys, hybrid))},
                                               "dense": {"metrics": dict(zip(keys, dense))}}}

    assert failed_versus(report((0.80, 0.85, 0.86), (0.85, 0.85, 0.90)), "dense") == []  # 0.05 = one of 20
    assert failed_versus(report((0.80, 0.85, 0.86), (0.90, 0.85, 0.86)), "dense") == [
        "hybrid Hit@1 = 0.800 is more than one question (0.050) below dense's 0.900"]
    beir = {"queries": 40, "runs": {"hybrid": {"metrics": {"ndcg@10": 0.50, "mrr@10": 0.78}},
                                    "dense": {"metrics": {"ndcg@10": 0.52, "mrr@10": 0.60}}}}
    assert failed_versus(beir, "dense") == []  # 0.02 is within 1/40
    with pytest.raises(QAError, match="needs both hybrid and bm25"):
        failed_versus(beir, "bm25")
