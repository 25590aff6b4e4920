"""Updates written as a delta: the base's files linked as they are, and every search the same as a full rebuild's."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.search.retrieval import MODES, Retriever
from qa.store.local.build import build_index
from qa.store.local.index import load_index
from qa.store.local.store import local_store
from test_incremental import ORCHARD, change, ledger
from test_incremental import QUESTIONS as INCREMENTAL_QUESTIONS

runner = CliRunner()
QUESTIONS = [*INCREMENTAL_QUESTIONS, "cherries in June", "harbour at dawn", "when was the armistice signed"]
# large enough a change for a delta in these tests; the thresholds are set low so a small corpus takes one
SMALL = {"DELTA_FROM": 10, "DELTA_SHARE": 100.0}


@pytest.fixture
def corpus(tmp_path, seed_corpus):
    folder = tmp_path / "c"
    shutil.copytree(seed_corpus, folder)
    (folder / "orchard.txt").write_text(ORCHARD)
    (folder / "gone.md").write_text("# Gone\n\nThis file will be deleted before the second build.\n")
    (folder / "harbour.md").write_text("# Harbour\n\nFishing boats leave the harbour at dawn.\n\n"
                                       "## Nets\n\nThe nets are mended on the quay in the afternoon.\n")
    return folder


@pytest.fixture
def deltas(monkeypatch):
    """Delta updates for a corpus of a few dozen passages, every search through candidates (as above
    EXACT_UP_TO passages, where deltas are written)."""
    import qa.store.local.build_delta as build_delta
    import qa.store.local.store as local

    for name, value in SMALL.items():
        monkeypatch.setattr(build_delta, name, value)
    monkeypatch.setattr(local, "EXACT_UP_TO", 0)
    return build_delta


def assert_searches_equal(updated, full, embedder) -> None:
    """The same passages, lexical scores, rankings and scores in every mode, passage lookups and neighbours."""
    store, rebuilt = local_store(updated), local_store(full)
    assert list(store.passages()) == list(full.passages)
    assert store.count == rebuilt.count == len(full.passages)
    for question in QUESTIONS:
        rows, scores = updated.delta.bm25.sparse(question) if updated.delta else updated.bm25.sparse(question)
        full_rows, full_scores = full.bm25.sparse(question)
        assert np.array_equal(rows, full_rows) and np.array_equal(scores, full_scores), question
    a, b = Retriever(updated, embedder), Retriever(full, embedder)
    for mode in MODES:
        for question in QUESTIONS:
            got, want = a.ask(question, 5, mode), b.ask(question, 5, mode)
            assert [h.id for h in got.passages] == [h.id for h in want.passages], (mode, question)
            # within float tolerance: a text embedded in another batch has a vector within ~1e-4 cosine
            np.testing.assert_allclose([h.score for h in got.passages], [h.score for h in want.passages], atol=2e-3)
            assert got.answerable == want.answerable, (mode, question)
    for p in full.passages:
        assert store.passage(p.id) == p
        assert store.neighbours(p.id) == rebuilt.neighbours(p.id)
    assert store.passage("no-such-passage") is None


def test_an_update_of_a_large_index_links_its_base_and_searches_as_a_full_rebuild(corpus, tmp_path, embedder, deltas):
    first = build_index([corpus], tmp_path / "index", embedder)
    assert first.delta is None
    base_files = ("sentence_vectors.npy", "dense.faiss", "passages.jsonl", "bm25/rows.npy")
    inodes = [os.stat(tmp_path / "index" / name).st_ino for name in base_files]
    change(corpus)
    updated = build_index([corpus], tmp_path / "index", embedder)
    full = build_index([corpus], tmp_path / "full", embedder, reuse=False)
    assert full.delta is None
    record = updated.manifest["delta"]
    assert updated.manifest["format_version"] == 2  # a qa from before deltas refuses it, and says to rebuild
    orchard = sum(1 for p in full.passages if p.doc == "orchard.txt")
    added = sum(1 for p in full.passages if p.doc == "added.txt")
    assert record["passage_count"] == orchard + added
    assert record["dead"] == sum(1 for p in first.passages if p.doc in ("orchard.txt", "gone.md"))
    assert updated.manifest["passage_count"] == len(full.passages)
    # the base's files are the first build's, linked: none was written again
    assert [os.stat(tmp_path / "index" / name).st_ino for name in base_files] == inodes
    assert updated.manifest["texts"]["embedded"] == 4  # the cherries paragraph and the added file's
    assert updated.manifest["texts"]["reused"] == full.manifest["texts"]["embedded"] - 4
    assert_searches_equal(load_index(tmp_path / "index"), full, embedder)
    assert updated.text("orchard.txt") == full.text("orchard.txt")


def test_updates_of_a_delta_keep_its_unchanged_documents_and_a_large_delta_is_compacted(corpus, tmp_path, embedder,
                                                                                       deltas, monkeypatch):
    index_dir = tmp_path / "index"
    build_index([corpus], index_dir, embedder)
    change(corpus)
    build_index([corpus], index_dir, embedder)
    # a second update: a base document edited, a delta document deleted, another delta document kept
    seed = next(corpus.glob("north-korea*.txt"))
    seed.write_text(seed.read_text() + "\nA closing paragraph about the armistice, signed in July 1953.\n")
    (corpus / "added.txt").unlink()
    (corpus / "late.txt").write_text("Late\n\nA lighthouse keeper writes down the weather every hour.\n")
    second = build_index([corpus], index_dir, embedder)
    assert second.delta is not None
    assert second.manifest["texts"]["embedded"] <= 6  # the new paragraph and the late file, with its sentences
    full = build_index([corpus], tmp_path / "full", embedder, reuse=False)
    assert_searches_equal(load_index(index_dir), full, embedder)
    # nothing changed: the index as it is
    assert build_index([corpus], index_dir, embedder).manifest["built_at"] == second.manifest["built_at"]
    # a delta past its share of the base: the whole index is written again, as a rebuild writes it
    monkeypatch.setattr(deltas, "DELTA_SHARE", 0.01)
    (corpus / "orchard.txt").write_text(ORCHARD + "\nPlums are dried in the sun in August.\n")
    compacted = build_index([corpus], index_dir, embedder)
    assert compacted.delta is None and "delta" not in compacted.manifest and compacted.manifest["format_version"] == 1
    assert not (index_dir / "delta").exists()
    full = build_index([corpus], tmp_path / "full", embedder, reuse=False)
    assert compacted.passages == full.passages
    np.testing.assert_array_equal(compacted.sentence_spans, full.sentence_spans)
    questions = QUESTIONS + ["plums dried in the sun"]
    np.testing.assert_allclose(compacted.bm25.score(questions), full.bm25.score(questions), rtol=1e-6)
    assert compacted.manifest["files"] == full.manifest["files"]
    assert_searches_equal(compacted, full, embedder)


def test_a_delta_that_only_deletes_and_one_over_an_ann_base(corpus, tmp_path, embedder, deltas, monkeypatch):
    import qa.store.local.build as build

    monkeypatch.setattr(build, "ANN_FROM", 10)  # the base has an IVF index: dense search skips its dead rows
    index_dir = tmp_path / "index"
    first = build_index([corpus], index_dir, embedder)
    assert first.ann is not None
    (corpus / "gone.md").unlink()
    deleted = build_index([corpus], index_dir, embedder)
    assert deleted.manifest["delta"]["passage_count"] == 0 and deleted.manifest["texts"]["embedded"] == 0
    full = build_index([corpus], tmp_path / "full", embedder, reuse=False)
    assert full.ann is not None
    # the IVF index of a few dozen vectors scans every list: its search is exact, so rankings are equal
    assert_searches_equal(load_index(index_dir), full, embedder)
    change_harbour = corpus / "harbour.md"
    change_harbour.write_text(change_harbour.read_text() + "\nGulls follow the boats back in.\n")
    updated = build_index([corpus], index_dir, embedder)
    assert updated.manifest["ann"] == first.manifest["ann"]  # the base's, linked
    full = build_index([corpus], tmp_path / "full2", embedder, reuse=False)
    assert_searches_equal(load_index(index_dir), full, embedder)


def test_qa_ask_and_text_read_a_delta_index(corpus, tmp_path, embedder, deltas, monkeypatch, shared_model):
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["index", "c", "--index-dir", "index"]).exit_code == 0
    change(corpus)
    result = runner.invoke(app, ["index", "c"])  # the index/ here was built from c: updated
    assert result.exit_code == 0, result.output
    assert (tmp_path / "index" / "delta").is_dir()
    result = runner.invoke(app, ["ask", "when are cherries ripe?", "--json", "--k", "1"])
    assert result.exit_code == 0, result.output
    assert '"doc": "orchard.txt"' in result.stdout and "cherries ripen in June" in result.stdout
    result = runner.invoke(app, ["text", "orchard.txt"])
    assert result.exit_code == 0 and result.stdout == (corpus / "orchard.txt").read_text()


def test_a_damaged_delta_file_is_refused_and_rebuilt(corpus, tmp_path, embedder, deltas):
    from qa.errors import QAError

    index_dir = tmp_path / "index"
    build_index([corpus], index_dir, embedder)
    change(corpus)
    build_index([corpus], index_dir, embedder)
    dead = index_dir / "delta" / "dead_rows.npy"
    data = bytearray(dead.read_bytes())
    data[-1] ^= 0xFF
    dead.write_bytes(bytes(data))
    with pytest.raises(QAError, match="corrupt or incomplete"):
        load_index(index_dir)
    rebuilt = build_index([corpus], index_dir, embedder)  # a damaged index is rebuilt whole, never spliced
    assert rebuilt.delta is None
    assert rebuilt.passages == build_index([corpus], tmp_path / "full", embedder, reuse=False).passages


def test_a_delta_index_copies_into_qdrant_as_its_live_passages(corpus, tmp_path, embedder, deltas):
    import qa.store.qdrant.store as Q
    import qa.store.qdrant.sync as S

    index_dir = tmp_path / "index"
    build_index([corpus], index_dir, embedder)
    change(corpus)
    updated = build_index([corpus], index_dir, embedder)
    assert updated.delta is not None
    assert S.from_local_index(index_dir, f"edge:{tmp_path / 'q'}", "c")["written"] == 4  # documents
    store = Q.QdrantStore.open(f"edge:{tmp_path / 'q'}", "c")
    try:
        local = local_store(load_index(index_dir))
        assert sorted(p.id for p in store.passages()) == sorted(p.id for p in local.passages())
        questions = ["cherries in June", "who is most responsible for the diplomacy with north korea"]
        vectors = np.asarray(embedder.encode(questions), dtype=np.float32)
        found, want = store.candidates(questions, vectors, 3), local.candidates(questions, vectors, 3)
        keys = {p.id: i for i, p in enumerate(want.passages)}
        at = [keys[p.id] for p in found.passages if p.id in keys]
        assert at  # the best of either store is among the other's
        np.testing.assert_allclose(found.vectors[[i for i, p in enumerate(found.passages) if p.id in keys]],
                                   want.vectors[at], atol=1e-6)
    finally:
        store.close()


@pytest.mark.slow  # kills a real update at every step: ~25 s
def test_a_delta_update_killed_at_any_point_leaves_the_old_index(corpus, tmp_path, embedder, deltas):
    import signal
    import subprocess
    import sys
    import time

    index_dir = tmp_path / "index"
    build_index([corpus], index_dir, embedder)
    change(corpus)
    before = list(local_store(build_index([corpus], index_dir, embedder)).passages())  # an index with a delta
    (corpus / "ledger.txt").write_text(ledger(1500))
    # `qa index` in a process of its own, with this test's thresholds
    script = ("import sys, qa.store.local.build_delta as d, qa.store.local.store as l; "
              f"d.DELTA_FROM, d.DELTA_SHARE = {SMALL['DELTA_FROM']}, {SMALL['DELTA_SHARE']}; l.EXACT_UP_TO = 0; "
              "from qa.cli import main; sys.argv = ['qa', 'index', sys.argv[1], '--index-dir', sys.argv[2]]; main()")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    # the kills are timed from an uninterrupted run of the same update on a copy: on a fast or idle machine
    # fixed delays fell after the update had already swapped its new index in
    shutil.copytree(index_dir, tmp_path / "timing")
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", script, str(corpus), str(tmp_path / "timing")], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.monotonic() - started
    shutil.rmtree(tmp_path / "timing")
    command = [sys.executable, "-c", script, str(corpus), str(index_dir)]
    for delay in (0.15 * took, 0.35 * took, 0.6 * took):
        build = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        assert build.poll() is None, "the build finished before it could be killed"
        build.send_signal(signal.SIGKILL)
        build.wait()
        assert list(local_store(load_index(index_dir)).passages()) == before  # the old index, whole
    resumed = build_index([corpus], index_dir, embedder)
    assert resumed.delta is not None
    full = build_index([corpus], tmp_path / "full", embedder, reuse=False)
    assert list(local_store(resumed).passages()) == list(full.passages)
