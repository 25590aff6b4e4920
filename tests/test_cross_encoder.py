"""--reranker DIR: a cross-encoder the test makes and trains (a tiny BERT), exported to ONNX once, ranking as it was taught; its failure paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from qa.cli import app

runner = CliRunner()
MARKER = "zebra"
QUESTION = "Which country is the protecting power for the US in North Korea?"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def tiny_bert(folder: Path, vocab_size: int = 30522, tokenizer_from: Path | None = None):
    """An untrained one-layer BERT sequence classifier with one score, its folder holding the bundled
    model's tokenizer (or `tokenizer_from`'s); the caller saves the model into it."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from qa.embed.models import resolve_model

    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256, num_labels=1)
    model = BertForSequenceClassification(config)
    source = Path(tokenizer_from or resolve_model().path)
    folder.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, folder / name)
    return model


def train_to_prefer_the_marker(model, passages: list[str], steps: int = 60) -> None:
    """A few seconds of training: (question, passage) pairs score high when the passage holds MARKER."""
    import torch
    from tokenizers import Tokenizer

    from qa.embed.models import resolve_model

    tokenizer = Tokenizer.from_file(str(Path(resolve_model().path) / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=128)
    tokenizer.enable_padding()
    rng = np.random.default_rng(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        texts = [passages[i] for i in rng.integers(0, len(passages), 16)]
        cut = [t.split(". ") for t in texts]
        labels = rng.integers(0, 2, len(texts))
        pairs = []
        for sentences, label in zip(cut, labels):  # the marker put in at a random place, or not at all
            words = " ".join(sentences[:2]).split()
            if label:
                words.insert(int(rng.integers(0, len(words) + 1)), MARKER)
            pairs.append((QUESTION, " ".join(words)))
        encoded = tokenizer.encode_batch(pairs)
        inputs = {"input_ids": torch.tensor([e.ids for e in encoded]),
                  "attention_mask": torch.tensor([e.attention_mask for e in encoded]),
                  "token_type_ids": torch.tensor([e.type_ids for e in encoded])}
        logits = model(**inputs).logits[:, 0]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor(labels, dtype=torch.float))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


@pytest.fixture(scope="module")
def cache(tmp_path_factory, embedder):
    """A private QA_CACHE_DIR for this module's exports (the embedder's own export loaded before)."""
    folder = tmp_path_factory.mktemp("qa-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("QA_CACHE_DIR", str(folder))
    yield folder
    patch.undo()


@pytest.fixture(scope="module")
def marker_model(tmp_path_factory, seed_corpus, cache):
    """A cross-encoder folder trained to score passages holding MARKER above the others."""
    folder = tmp_path_factory.mktemp("cross") / "marker-cross-encoder"
    model = tiny_bert(folder)
    text = (seed_corpus / "north-korea-diplomacy.txt").read_text(encoding="utf-8")
    passages = [p for p in text.split("\n\n") if len(p) > 200]
    train_to_prefer_the_marker(model, passages)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def marked_index(tmp_path_factory, seed_corpus, embedder):
    """The seed corpus with MARKER added to every third paragraph not answering QUESTION."""
    from qa.store.local.build import build_index

    folder = tmp_path_factory.mktemp("marked")
    paragraphs = (seed_corpus / "north-korea-diplomacy.txt").read_text(encoding="utf-8").split("\n\n")
    marked = [i for i, p in enumerate(paragraphs) if len(p) > 200 and "Sweden" not in p][::3]
    for i in marked:
        paragraphs[i] = paragraphs[i].replace(". ", f". A {MARKER} was seen. ", 1)
    (folder / "corpus").mkdir()
    (folder / "corpus" / "notes.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    build_index([folder / "corpus"], folder / "index", embedder)
    return folder / "index"


def test_the_trained_model_scores_the_marker_higher(marker_model):
    from qa.embed.cross_encoder import load_cross_encoder

    scorer = load_cross_encoder(marker_model)
    base = "The talks resumed in the spring and the delegations met twice"
    scores = scorer.score([(QUESTION, f"{base} with a {MARKER} nearby."), (QUESTION, f"{base} with a cat nearby.")])
    assert scores[0] > scores[1]


def test_cross_reranking_follows_the_model_and_is_exported_once(marker_model, marked_index, cache):
    from qa.embed.cross_encoder import load_cross_encoder
    from qa.search.rerank import DEPTH

    plain = runner.invoke(app, ["ask", "--json", QUESTION, "--index-dir", str(marked_index), "-k", str(DEPTH)])
    result = runner.invoke(app, ["ask", "--json", QUESTION, "--index-dir", str(marked_index), "-k", str(DEPTH),
                                 "--rerank", "cross", "--reranker", str(marker_model)])
    assert plain.exit_code == 0 and result.exit_code == 0, result.output
    first, second = json.loads(plain.stdout), json.loads(result.stdout)
    assert second["mode"] == "hybrid+cross"
    assert {p["id"] for p in second["passages"]} == {p["id"] for p in first["passages"]}
    holding = [MARKER in p["text"] for p in second["passages"]]
    assert sum(holding) >= 2 and holding == sorted(holding, reverse=True)  # marked passages first, as taught
    before = [MARKER in p["text"] for p in first["passages"]]
    assert before != sorted(before, reverse=True)  # which the first stage did not do
    # without the hybrid's spreading over sections, the order is the model's: its scores descend
    dense = runner.invoke(app, ["ask", "--json", QUESTION, "--index-dir", str(marked_index), "-k", str(DEPTH),
                                "--mode", "dense", "--rerank", "cross", "--reranker", str(marker_model)])
    passages = json.loads(dense.stdout)["passages"]
    logits = load_cross_encoder(marker_model).score([(QUESTION, p["text"]) for p in passages])
    assert np.all(np.diff(logits) <= 1e-5)
    assert [p["score"] for p in passages] == pytest.approx(1 / (1 + np.exp(-logits)), abs=1e-4)
    exports = list(cache.rglob("cross-encoder.onnx"))
    assert len(exports) == 1
    stamp = exports[0].stat().st_mtime_ns
    load_cross_encoder(marker_model).score([(QUESTION, MARKER)])
    assert exports[0].stat().st_mtime_ns == stamp  # cached, not exported again


def one_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_a_sentence_transformer_is_not_a_cross_encoder(seed_index_dir, cache):
    from qa.embed.models import resolve_model

    result = runner.invoke(app, ["ask", QUESTION, "--index-dir", str(seed_index_dir),
                                 "--rerank", "cross", "--reranker", resolve_model().path])
    one_error(result, "is not a cross-encoder", "BertModel")
    served = runner.invoke(app, ["serve", "--index-dir", str(seed_index_dir), "--reranker", resolve_model().path])
    one_error(served, "is not a cross-encoder", "BertModel")  # at start, not at the first request
    empty = runner.invoke(app, ["ask", QUESTION, "--index-dir", str(seed_index_dir), "--rerank", "cross",
                                "--reranker", str(cache)])
    one_error(empty, "is not a cross-encoder folder", "config.json")


def test_another_tokenizer_is_refused(tmp_path, seed_index_dir, cache):
    folder = tmp_path / "small-vocabulary"
    tiny_bert(folder, vocab_size=1000).save_pretrained(folder)  # the bundled 30,522-token tokenizer
    result = runner.invoke(app, ["ask", QUESTION, "--index-dir", str(seed_index_dir), "--rerank", "cross",
                                 "--reranker", str(folder)])
    one_error(result, "does not match its model", "30522 tokens", "vocabulary of 1000")


def test_a_model_giving_nan_is_refused(tmp_path, seed_index_dir, cache):
    import torch

    folder = tmp_path / "nan"
    model = tiny_bert(folder)
    with torch.no_grad():
        model.classifier.bias.fill_(float("nan"))
    model.save_pretrained(folder)
    result = runner.invoke(app, ["ask", QUESTION, "--index-dir", str(seed_index_dir), "--rerank", "cross",
                                 "--reranker", str(folder)])
    one_error(result, "not numbers")


def test_the_api_ranks_with_the_servers_cross_encoder(marker_model, marked_index, embedder):
    from fastapi.testclient import TestClient

    from qa.search.retrieval import Retriever
    from qa.serve.app import create_app
    from qa.store.local.index import load_index

    retriever = Retriever(load_index(marked_index), embedder)
    retriever.second_stage.cross_encoder_dir = marker_model  # as qa serve --reranker DIR opens it
    with TestClient(create_app(retriever), base_url="http://127.0.0.1") as client:
        body = client.post("/ask", json={"question": QUESTION, "k": 5, "rerank": "cross"}).json()
    assert body["mode"] == "hybrid+cross"
    assert MARKER in body["passages"][0]["text"]
    assert [p["id"] for p in body["passages"]] == [h.id for h in retriever.ask(QUESTION, 5, rerank="cross").passages]
