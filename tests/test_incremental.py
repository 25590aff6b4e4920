"""Incremental `qa index`: only new text is embedded, and the result is the index a full rebuild makes."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.store.local.index import load_index
from qa.store.local.build import build_index
from qa.search.retrieval import MODES, Retriever

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
    texts = updated.manifest["texts"]
    assert (texts["embedded"], texts["reused"]) == (4, full.manifest["texts"]["embedded"] - 4)
    assert texts["embedding_seconds"] > 0
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


def test_an_update_reads_only_the_changed_files_and_keeps_the_rest_as_it_was(corpus, tmp_path, embedder,
                                                                         monkeypatch):
    import qa.store.corpus as build

    first = build_index([corpus], tmp_path / "index", embedder)
    change(corpus)
    read = []
    real = build.read_document
    monkeypatch.setattr(build, "read_document", lambda file, name, *rest: read.append(name) or real(file, name, *rest))
    updated = build_index([corpus], tmp_path / "index", embedder)
    assert sorted(read) == ["added.txt", "orchard.txt"]
    full = build_index([corpus], tmp_path / "full", embedder, reuse=False)
    questions = QUESTIONS + ["cherries in June", "harbour at dawn"]
    np.testing.assert_allclose(updated.bm25.score(questions), full.bm25.score(questions), rtol=1e-6)
    assert set(updated.bm25.vocab) == set(full.bm25.vocab)
    assert updated.manifest["files"] == full.manifest["files"]
    seed = [p for p in first.passages if p.doc != "orchard.txt" and p.doc != "gone.md"]
    assert [p for p in updated.passages if p.doc not in ("orchard.txt", "added.txt")] == seed
    read.clear()
    again = build_index([corpus], tmp_path / "index", embedder)  # nothing changed: nothing read or written
    assert read == [] and again.manifest["built_at"] == updated.manifest["built_at"]


def test_an_update_with_nothing_to_embed_never_loads_the_model_session(corpus, tmp_path):
    from qa.embed import load_embedder

    build_index([corpus], tmp_path / "index", load_embedder(lazy=True))
    (corpus / "gone.md").unlink()
    lazy = load_embedder(lazy=True)
    updated = build_index([corpus], tmp_path / "index", lazy)
    assert lazy._session is None and updated.manifest["texts"]["embedding_seconds"] == 0
    assert "gone.md" not in {p.doc for p in updated.passages}
    vectors = lazy.encode(["cherries ripen in June"])  # the session is made on the first encode
    assert lazy._session is not None and vectors.shape == (1, lazy.dimension)


def test_qa_index_says_what_it_reused_and_full_embeds_everything(corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["index", "c", "--index-dir", "index"]).exit_code == 0
    (corpus / "added.txt").write_text("Added\n\nA file that arrives later, about the harbour at dawn.\n")
    result = runner.invoke(app, ["index", "c"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"Indexed 36 passages from 4 files into index/ in \d+\.\d s \(embedded 2 new texts, "
                        r"reused \d+\)\n", result.stdout)
    result = runner.invoke(app, ["index", "c", "--full"])
    assert re.fullmatch(r"Indexed 36 passages from 4 files into index/ in \d+\.\d s\n", result.stdout)


def test_a_damaged_index_is_not_reused(corpus, tmp_path, embedder):
    build_index([corpus], tmp_path / "index", embedder)
    vectors = tmp_path / "index" / "sentence_vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[-8:] = b"\x7f" * 8  # a vector that no model would give
    vectors.write_bytes(bytes(data))
    rebuilt = build_index([corpus], tmp_path / "index", embedder)
    assert rebuilt.manifest["texts"]["reused"] == 0


def ledger(entries: int) -> str:
    """A file of `entries` distinct one-sentence paragraphs: enough text for a build of some seconds."""
    fruit = ["pears", "plums", "apples", "figs", "dates", "limes", "quinces"]
    lines = [f"The ledger records {n} barrels of {fruit[n % 7]} shipped to port {n * 7 % 97} on day {n}."
             for n in range(entries)]
    return "Ledger\n\n" + "\n\n".join(lines) + "\n"


@pytest.mark.slow  # kills a real build at every step: ~30 s
def test_a_build_killed_at_any_point_leaves_the_old_index_and_resumes(corpus, tmp_path, embedder):
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    index_dir = tmp_path / "index"
    first = build_index([corpus], index_dir, embedder)
    before = first.passages
    (corpus / "ledger.txt").write_text(ledger(1500))
    partial = tmp_path / ".index.partial"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    # the kills are timed from an uninterrupted run of the same build on a copy: on a fast or idle machine
    # fixed delays fell after the build had already swapped its new index in
    shutil.copytree(index_dir, tmp_path / "timing")
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "qa.cli", "index", str(corpus), "--index-dir", str(tmp_path / "timing")],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.monotonic() - started
    shutil.rmtree(tmp_path / "timing")
    command = [sys.executable, "-m", "qa.cli", "index", str(corpus), "--index-dir", str(index_dir)]
    for delay in (0.15 * took, 0.35 * took, 0.6 * took, None):  # None: once the first chunk of vectors is kept
        build = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + (delay if delay is not None else 120)
        while time.monotonic() < deadline and build.poll() is None:
            if delay is None and list(partial.glob("*.keys.npy")):
                break
            time.sleep(0.05)
        assert build.poll() is None, "the build finished before it could be killed"
        build.send_signal(signal.SIGKILL)
        build.wait()
        assert load_index(index_dir).passages == before  # the old index, whole
    kept = sum(len(np.load(f)) for f in partial.glob("*.keys.npy"))
    assert kept >= 1500  # the ledger's passages at least
    warnings = []
    resumed = build_index([corpus], index_dir, embedder, warn=warnings.append)
    full = build_index([corpus], tmp_path / "full", embedder, reuse=False)
    assert resumed.passages == full.passages
    # nothing embedded twice: the old index's texts and those the killed builds kept are all reused
    assert resumed.manifest["texts"]["embedded"] == \
        full.manifest["texts"]["embedded"] - first.manifest["texts"]["embedded"] - kept
    assert warnings == [f"resuming an unfinished build: {kept:,} texts were embedded already"]
    assert not partial.exists()  # consumed and removed once the index holds the vectors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "full", "index"]


def test_a_waiting_build_plans_from_the_corpus_and_index_as_they_are_once_it_holds_the_lock(corpus, tmp_path,
                                                                                          embedder):
    import os
    import subprocess
    import sys

    from qa.store.local.folder import build_lock

    index_dir = tmp_path / "index"
    build_index([corpus], index_dir, embedder)
    command = [sys.executable, "-m", "qa.cli", "index", str(corpus), "--index-dir", str(index_dir)]
    with build_lock(index_dir):
        build = subprocess.Popen(command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
        assert "waiting for it to finish" in build.stderr.readline()
        (corpus / "late.txt").write_text("Late\n\nA file written while the second build waited, about a lighthouse.\n")
    assert build.wait(timeout=120) == 0
    assert "late.txt" in {p.doc for p in load_index(index_dir).passages}
