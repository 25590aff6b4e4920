"""Incremental `qa index`: only new text is embedded, and the result is the index a full rebuild makes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.index import build_index, load_index
from qa.retrieval import MODES, Retriever

runner = CliRunner()
QUESTIONS = [
    "Which country is the protecting power for the US in North Korea?",
    "who is most responsible for the diplomacy with north korea",
    "How long is the China–North Korea border?",
    "what fruit grows in the orchard",
]
ORCHARD = "Orchard\n\nThe orchard grows pears and plums.\n\nIts apples are picked in October.\n"


@pytest.fixture
def corpus(tmp_path, seed_corpus):
    folder = tmp_path / "c"
    shutil.copytree(seed_corpus, folder)
    (folder / "orchard.txt").write_text(ORCHARD)
    (folder / "gone.md").write_text("# Gone\n\nThis file will be deleted before the second build.\n")
    return folder


def change(corpus):
    """Edit one file, add one, delete one."""
    (corpus / "orchard.txt").write_text(ORCHARD + "\nA new paragraph: cherries ripen in June.\n")
    (corpus / "added.txt").write_text("Added\n\nA file that arrives later, about the harbour at dawn.\n")
    (corpus / "gone.md").unlink()


def test_an_update_embeds_only_new_text_and_equals_a_full_rebuild(corpus, tmp_path, embedder):
    build_index([corpus], tmp_path / "index", embedder)
    change(corpus)
    updated = build_index([corpus], tmp_path / "index", embedder)
    full = build_index([corpus], tmp_path / "full", embedder, reuse=False)
    # new: the cherries paragraph and the added file, one sentence each, and their passage texts
    assert updated.manifest["texts"] == {"embedded": 4, "reused": full.manifest["texts"]["embedded"] - 4}
    assert full.manifest["texts"]["reused"] == 0
    assert updated.passages == full.passages
    assert np.array_equal(updated.sentence_spans, full.sentence_spans)
    cosines = np.sum(updated.vectors() * full.vectors(), axis=1)
    sentence_cosines = np.sum(np.asarray(updated.sentence_vectors) * np.asarray(full.sentence_vectors), axis=1)
    assert cosines.min() > 0.999 and sentence_cosines.min() > 0.999  # batch order only: within float tolerance
    loaded, rebuilt = Retriever(load_index(tmp_path / "index"), embedder), Retriever(full, embedder)
    for mode in MODES:
        for question in QUESTIONS:
            assert [h.id for h in loaded.ask(question, 5, mode).passages] == \
                [h.id for h in rebuilt.ask(question, 5, mode).passages], (mode, question)


def test_qa_index_says_what_it_reused_and_full_embeds_everything(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["index", "c"]).exit_code == 0
    (corpus / "added.txt").write_text("Added\n\nA file that arrives later, about the harbour at dawn.\n")
    result = runner.invoke(app, ["index", "c"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Indexed 36 passages from 4 file(s) into index/ (embedded 2 new texts, reused ")
    result = runner.invoke(app, ["index", "c", "--full"])
    assert result.stdout == "Indexed 36 passages from 4 file(s) into index/\n"


def test_a_damaged_index_is_not_reused(corpus, tmp_path, embedder):
    build_index([corpus], tmp_path / "index", embedder)
    vectors = tmp_path / "index" / "sentence_vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[-8:] = b"\x7f" * 8  # a vector that no model would give
    vectors.write_bytes(bytes(data))
    rebuilt = build_index([corpus], tmp_path / "index", embedder)
    assert rebuilt.manifest["texts"]["reused"] == 0
