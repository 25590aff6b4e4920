"""The second stage: MaxSim and fusion, late interaction with the real model through the library, CLI, API and eval."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import ROOT
from qa.cli import app
from qa.search import rerank
from qa.search.rerank import LATE_WEIGHT, fuse, maxsim

runner = CliRunner()
HAND_WRITTEN = ROOT / "eval" / "questions.jsonl"
QUESTION = "Which country is the protecting power for the US in North Korea?"


def unit(rows) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_maxsim_is_the_mean_of_each_question_tokens_best_match():
    question = unit([[1, 0, 0], [0, 1, 0]])
    passages = [unit([[1, 0, 0], [0, 0, 1]]),  # matches the first token only: (1 + 0) / 2
                unit([[1, 0, 0], [0, 1, 0], [1, 1, 0]]),  # both exactly: 1
                np.zeros((0, 3), dtype=np.float32)]  # no tokens: 0
    assert maxsim(question, passages).tolist() == pytest.approx([0.5, 1.0, 0.0])
    assert maxsim(np.zeros((0, 3), dtype=np.float32), passages).tolist() == [0, 0, 0]


def test_fuse_adds_the_weighted_second_score_to_the_top_and_keeps_the_rest_below():
    first = np.array([0.9, 0.8, 0.7, 0.6, -np.inf], dtype=np.float32)
    top = np.array([0, 1, 2])
    fused = fuse(first, np.array([0.1, 0.3, 0.5]), top, 0.5)
    assert fused[:3].tolist() == pytest.approx([0.9, 0.8 + 0.25, 0.7 + 0.5])
    assert fused[3] < fused[:3].min() and fused[4] == -np.inf
    assert np.argsort(-fused).tolist()[:3] == [2, 1, 0]
    replaced = fuse(first, np.array([2.0, -1.0, 0.0]), top, None)  # a cross-encoder's logits
    assert np.argsort(-replaced).tolist()[:4] == [0, 2, 1, 3]
    assert replaced[0] == pytest.approx(1 / (1 + np.exp(-2.0)), abs=1e-5)


def test_check_reranker_names_the_choices():
    from qa.errors import QAError

    assert rerank.check_reranker(None) == "none"
    with pytest.raises(QAError, match="none, late, cross"):
        rerank.check_reranker("colbert")


def test_token_vectors_do_not_depend_on_the_batch(embedder):
    alone, alone_ids = embedder.encode_tokens([QUESTION])
    together, together_ids = embedder.encode_tokens(["a much longer text " * 20, QUESTION, ""])
    assert np.array_equal(alone_ids[0], together_ids[1])
    assert np.allclose(alone[0], together[1], atol=1e-5)
    assert np.allclose(np.linalg.norm(alone[0], axis=1), 1, atol=1e-5)
    pieces = embedder.word_pieces(alone_ids[0])
    assert pieces.sum() == len(alone_ids[0]) - 3  # [CLS], "?" and [SEP] are not word pieces


def test_late_interaction_reorders_the_first_stage_top_by_maxsim(retriever, embedder):
    plain = retriever.ask(QUESTION, 20, mode="dense")
    late = retriever.ask(QUESTION, 20, mode="dense", rerank="late")
    assert late.mode == "dense+late" and plain.mode == "dense"
    assert {h.id for h in late.passages} == {h.id for h in plain.passages}  # reordered, not replaced
    vectors, ids = embedder.encode_tokens([QUESTION] + [h.text for h in plain.passages])
    tokens = [v[embedder.word_pieces(i)] for v, i in zip(vectors, ids)]
    second = maxsim(tokens[0], tokens[1:])
    expected = np.array([h.score for h in plain.passages]) + LATE_WEIGHT * (second - second.min()) / np.ptp(second)
    assert [h.id for h in late.passages] == [plain.passages[i].id for i in np.argsort(-expected, kind="stable")]
    assert [h.id for h in late.passages] != [h.id for h in plain.passages]  # the second stage did something


def test_a_batch_is_ranked_as_each_question_alone(retriever):
    questions = [QUESTION, "when did the talks start?", "who leads the talks?"]
    batch = retriever.search(questions, 5, rerank="late")
    for question, answer in zip(questions, batch):
        assert [h.id for h in answer.passages] == [h.id for h in retriever.ask(question, 5, rerank="late").passages]


def test_cli_ask_rerank_late_and_bad_choices(workdir):
    result = runner.invoke(app, ["ask", "--json", QUESTION, "--rerank", "late"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["mode"] == "hybrid+late" and "Sweden" in answer["passages"][0]["text"]
    for args, message in ((["--rerank", "colbert"], "rerank must be one of none, late, cross"),
                          (["--rerank", "cross"], "rerank cross needs a cross-encoder: give --reranker DIR")):
        result = runner.invoke(app, ["ask", QUESTION, *args])
        assert result.exit_code == 2, result.output
        assert result.stderr.splitlines() == [f"Error: {message}" + result.stderr.split(message, 1)[1].rstrip()]
        assert result.stderr.startswith("Error: ") and "Traceback" not in result.output


def test_eval_compare_shows_the_second_stage_on_and_off(workdir):
    few = workdir / "few.jsonl"  # five hand-written questions: the report's form, not its figures, is tested
    few.write_text("".join(HAND_WRITTEN.read_text(encoding="utf-8").splitlines(keepends=True)[:5]))
    plain = json.loads(runner.invoke(app, ["eval", str(few), "--compare", "--json", "-k", "5"]).stdout)
    assert list(plain["runs"]) == ["dense", "bm25", "hybrid"]  # the second stage is opt-in
    result = runner.invoke(app, ["eval", str(few), "--compare", "--rerank", "late", "--json", "-k", "5"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert list(runs) == ["dense", "bm25", "hybrid", "hybrid+late"]
    assert runs["hybrid+late"]["metrics"]["hit_rate@1"] > 0
    alone = json.loads(runner.invoke(app, ["eval", str(few), "--json", "-k", "5", "--rerank", "late"]).stdout)
    assert list(alone["runs"]) == ["hybrid+late"]
    assert alone["runs"]["hybrid+late"]["metrics"] == runs["hybrid+late"]["metrics"]


def test_api_ask_takes_rerank(retriever):
    from qa.serve.app import create_app

    with TestClient(create_app(retriever), base_url="http://127.0.0.1") as client:
        body = client.post("/ask", json={"question": QUESTION, "k": 3, "rerank": "late"}).json()
        assert body["mode"] == "hybrid+late"
        assert [p["id"] for p in body["passages"]] == [h.id for h in retriever.ask(QUESTION, 3, rerank="late").passages]
        got = client.get("/ask", params={"q": QUESTION, "k": 3, "rerank": "late"}).json()
        assert [p["id"] for p in got["passages"]] == [p["id"] for p in body["passages"]]
        bad = client.post("/ask", json={"question": QUESTION, "rerank": "colbert"})
        assert bad.status_code == 422 and "none, late, cross" in bad.json()["error"]["message"]
        no_model = client.get("/ask", params={"q": QUESTION, "rerank": "cross"})
        assert no_model.status_code == 409 and "--reranker DIR" in no_model.json()["error"]["message"]


def test_the_second_stage_ranks_a_qdrant_copy_as_the_local_index(retriever, embedder, seed_index_dir, tmp_path):
    from qa.search.retrieval import Retriever
    from qa.store.qdrant import store as qdrant, sync as qdrant_sync

    url = str(tmp_path / "qdrant")  # Qdrant's embedded local mode
    qdrant_sync.from_local_index(seed_index_dir, url, "seed")
    store = qdrant.QdrantStore.open(url, "seed", model=embedder.model)
    try:
        questions = [QUESTION, "when did the talks start?", "who leads the talks?"]
        over_qdrant = Retriever(store, embedder).search(questions, 5, rerank="late")
        local = retriever.search(questions, 5, rerank="late")
        assert [[h.id for h in a.passages] for a in over_qdrant] == [[h.id for h in a.passages] for a in local]
        assert all(a.mode == "hybrid+late" for a in over_qdrant)
    finally:
        store.close()
