"""The Qdrant store on real engines: qdrant-client's local mode and Qdrant's Rust shard (qdrant-edge-py), with the real model.

Each test runs on both engines (`engine` = "local" or "edge"); the seed index's copy is compared
with the local store's exact search (its cosines and bm25s's BM25 scores).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from qa.errors import QAError
from qa.search import scoring
from qa.store import qdrant as Q
from qa.store import qdrant_sync as S
from qa.search.retrieval import Retriever
from qa.store.build import build_index
from qa.store.index import load_index
from qa.store.lexical import Analyzer
from qa.store.local import LocalStore
from qa.store.qdrant_layout import B, K1, SparseBM25, payload_passage, point_id, term_index

PROTECTING = "Which country is the protecting power for the US in North Korea?"
ENGINES = ["local", "edge"]


def url_for(engine: str, folder: Path) -> str:
    return f"edge:{folder}" if engine == "edge" else str(folder)


@pytest.fixture(scope="module", params=ENGINES)
def seed_url(request, tmp_path_factory, seed_index_dir) -> str:
    """The seed index copied into a collection `seed` (tests must not modify it)."""
    url = url_for(request.param, tmp_path_factory.mktemp(f"qdrant-{request.param}"))
    counts = S.from_local_index(seed_index_dir, url, "seed")
    assert counts["written"] == 1 and counts["skipped"] == 0
    return url


@pytest.fixture
def seed_store(seed_url):
    store = Q.QdrantStore.open(seed_url, "seed", model="all-MiniLM-L6-v2")
    yield store
    store.close()


@pytest.fixture(scope="module")
def seed_local(seed_index_dir):
    return load_index(seed_index_dir)


def eval_questions(limit: int | None = None) -> list[str]:
    lines = (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][:limit]


# --- pure logic ---------------------------------------------------------------------------------------


def test_sparse_weights_are_bm25s_lucene_term_frequency_part():
    analyzer = Analyzer(["the", "of"], "english")
    from qa.ingest.passages import Passage

    passage = Passage("p", "d.txt", "T", "Talks", 0, 0, 30, "talks of talks, the talks end")
    indices, values = SparseBM25(analyzer, avgdl=4.0).passage(passage)
    # lexical text: "Talks\n" + text -> talk ×4, end ×1; dl = 5
    norm = K1 * (1 - B + B * 5 / 4.0)
    expected = {term_index("talk"): 4 / (4 + norm), term_index("end"): 1 / (1 + norm)}
    assert dict(zip(indices, values)) == pytest.approx(expected)
    assert indices == sorted(indices)
    q_indices, q_values = SparseBM25(analyzer, 4.0).question("Talks, talks and the end?")
    assert dict(zip(q_indices, q_values)) == {term_index("talk"): 2.0, term_index("and"): 1.0, term_index("end"): 1.0}
    assert SparseBM25(analyzer, 4.0).question("the of") == ([], [])


def test_ids_are_stable():
    assert point_id("abc") == point_id("abc") != point_id("abd")
    assert term_index("talk") == term_index("talk") < 2**32


def test_opening_the_local_store_imports_no_qdrant_library():
    code = ("import sys, qa.cli, qa.store.qdrant; "
            "print(any(m.split('.')[0] in ('qdrant_client', 'qdrant_edge', 'grpc') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- the seed index copied into Qdrant ---------------------------------------------------------------


def test_copy_holds_every_passage_text_and_record(seed_store, seed_local):
    assert seed_store.count == len(seed_local.passages)
    assert seed_store.model == "all-MiniLM-L6-v2"
    for p in list(seed_local.passages)[::7]:
        assert seed_store.passage(p.id) == p
    doc = seed_local.passages[0].doc
    assert seed_store.text(doc) == seed_local.text(doc)
    assert seed_store.pages_of([(doc, 10)]) == [None]  # a .txt file has no pages
    assert seed_store.passage("no-such-passage") is None
    with pytest.raises(QAError) as error:
        seed_store.text("missing.txt")
    assert error.value.status == 404
    described = seed_store.describe()
    assert described["store"] == "qdrant" and described["passage_count"] == len(seed_local.passages)
    store_local = LocalStore(seed_local)
    for p in list(seed_local.passages)[:3] + list(seed_local.passages)[-3:]:
        assert seed_store.neighbours(p.id) == store_local.neighbours(p.id)
    assert seed_store.neighbours("no-such-passage") == (None, None)


def test_candidates_hold_the_local_exact_best_with_its_scores(seed_store, seed_local, embedder):
    questions = eval_questions(20)
    vectors = np.asarray(embedder.encode(questions), dtype=np.float32)
    found = seed_store.candidates(questions, vectors, 8)
    rows = [seed_local.row_of(p.id) for p in found.passages]
    local_dense = vectors @ seed_local.vectors().T
    local_bm25 = seed_local.bm25.score(questions)
    assert rows == sorted(rows)  # in corpus order, as the local store's rows
    np.testing.assert_allclose(found.dense, local_dense[:, rows], atol=1e-5)
    np.testing.assert_allclose(found.lexical, local_bm25[:, rows], atol=1e-4)
    assert found.member.shape == (len(questions), len(rows)) and not found.exact
    assert seed_store.candidates(questions, vectors, len(rows) + 100).exact  # every passage a candidate
    for q in range(len(questions)):
        member_rows = {rows[i] for i in np.flatnonzero(found.member[q])}
        assert set(scoring.top_k(local_dense[q], 8).tolist()) <= member_rows
        assert {r for r in scoring.top_k(local_bm25[q], 5).tolist() if local_bm25[q, r] > 0} <= member_rows
    # every candidate's sentences: the local index's spans and vectors, in candidate order
    spans, local_spans = found.sentence_spans, np.asarray(seed_local.sentence_spans)
    for i, row in enumerate(rows):
        mine = spans[spans[:, 0] == i]
        theirs = local_spans[local_spans[:, 0] == row]
        assert mine[:, 1:].tolist() == theirs[:, 1:].tolist()
        np.testing.assert_allclose(found.sentence_vectors[spans[:, 0] == i],
                                   seed_local.sentence_vectors[local_spans[:, 0] == row], atol=1e-5)
    np.testing.assert_allclose(found.vectors, seed_local.vectors()[rows], atol=1e-5)


def test_the_protecting_power_question_finds_sweden(seed_store, embedder):
    vector = np.asarray(embedder.encode([PROTECTING]), dtype=np.float32)
    found = seed_store.candidates([PROTECTING], vector, 5)
    best_bm25 = found.passages[int(np.argmax(found.lexical[0]))]
    assert "Sweden" in best_bm25.text
    fused = scoring.fuse(found.dense, found.lexical)[0]
    assert "Sweden" in found.passages[int(np.argmax(fused))].text
    # the eval set's q54 asks the other way round: Sweden's role is the protecting power
    found = seed_store.candidates(["What is the role of Sweden in North Korea?"],
                                  np.asarray(embedder.encode(["What is the role of Sweden in North Korea?"])), 5)
    assert any("protecting power" in p.text for p in found.passages)


def test_the_engines_max_sim_over_sentences_is_the_best_sentence_cosine(seed_store, seed_local, embedder):
    """The `sentences` multivector as the engine scores it (MAX_SIM) is the retriever's best-sentence score."""
    vector = np.asarray(embedder.encode([PROTECTING]), dtype=np.float32)
    count = len(seed_local.passages)
    hits = seed_store.engine.search("seed", "sentences", [vector.tolist()], count)[0]
    scores = dict(hits)
    by_id = {payload["id"]: scores[pid] for pid, _, payload in seed_store.engine.retrieve("seed", list(scores),
                                                                                          payload=["id"])}
    expected = scoring.best_sentence(vector, np.asarray(seed_local.sentence_vectors),
                                     np.asarray(seed_local.sentence_spans)[:, 0], count)[0]
    assert len(by_id) == count
    for p, best in zip(seed_local.passages, expected):
        assert by_id[p.id] == pytest.approx(float(best), abs=1e-4)  # the engine renormalizes float16 vectors


def test_knows_and_stem_agree_with_the_local_bm25(seed_store, seed_local):
    words = {w for q in eval_questions() for w in q.replace("?", " ").split()} | {"Zyxwvut", "tungsten", "the"}
    for word in sorted(words)[:120]:
        assert seed_store.knows(word) == seed_local.bm25.knows(word), word
        assert seed_store.stem(word) == seed_local.bm25.stem(word), word
    assert seed_store.knows("Pyongyang") and not seed_store.knows("Zyxwvut")


def test_a_question_with_no_indexable_word_has_dense_candidates_only(seed_store, embedder):
    vector = np.asarray(embedder.encode(["Is it the?"]), dtype=np.float32)
    found = seed_store.candidates(["Is it the?"], vector, 4)
    assert len(found.passages) == 4 and not found.lexical.any()


# --- the write path, incremental updates, failures ----------------------------------------------------


@pytest.fixture(params=ENGINES)
def engine_url(request, tmp_path) -> str:
    return url_for(request.param, tmp_path / "qdrant")


def test_indexing_the_corpus_equals_copying_its_local_index(engine_url, seed_corpus, seed_local, embedder):
    counts = S.index_corpus([seed_corpus], engine_url, embedder, "built")
    assert counts == {"written": 1, "skipped": 0, "deleted": 0, "passages_written": len(seed_local.passages)}
    store = Q.QdrantStore.open(engine_url, "built")
    try:
        questions = [PROTECTING, "How long is the border between China and North Korea?"]
        vectors = np.asarray(embedder.encode(questions), dtype=np.float32)
        found = store.candidates(questions, vectors, 6)
        rows = [seed_local.row_of(p.id) for p in found.passages]
        np.testing.assert_allclose(found.lexical, seed_local.bm25.score(questions)[:, rows], atol=1e-4)
        np.testing.assert_allclose(found.vectors, seed_local.vectors()[rows], atol=2e-3)  # another embedding run
        lengths = [len(seed_local.bm25.analyzer(p.lexical_text())) for p in seed_local.passages]
        assert store.manifest["avgdl"] == pytest.approx(np.mean(lengths))  # bm25s's avgdl (no passage is empty)
    finally:
        store.close()


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def _ids(store) -> dict[str, set[str]]:
    """doc → the passage ids the collection holds for it."""
    out: dict[str, set[str]] = {}
    for _, _, payload in store.engine.scroll(store.collection, payload=["doc", "id"]):
        out.setdefault(payload["doc"], set()).add(payload["id"])
    return out


def test_incremental_add_edit_delete(engine_url, tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _write(corpus, "apples.txt", "Apples\n\nOrchards in Kent grow sharp cooking apples for pies.\n")
    _write(corpus, "boats.md", "# Boats\n\nThe ferry to Skye leaves at noon.\n\nIt carries forty cars.\n")
    assert S.index_corpus([corpus], engine_url, embedder, "c")["written"] == 2
    assert S.index_corpus([corpus], engine_url, embedder, "c") == \
        {"written": 0, "skipped": 2, "deleted": 0, "passages_written": 0}
    store = Q.QdrantStore.open(engine_url, "c")
    before = _ids(store)
    store.close()

    _write(corpus, "boats.md", "# Boats\n\nThe ferry to Skye leaves at dawn.\n\nIt carries forty cars.\n")
    _write(corpus, "comets.txt", "Comets\n\nHalley's comet returns every seventy-six years.\n")
    (corpus / "apples.txt").unlink()
    counts = S.index_corpus([corpus], engine_url, embedder, "c")
    assert counts["written"] == 2 and counts["deleted"] == 1 and counts["skipped"] == 0
    store = Q.QdrantStore.open(engine_url, "c")
    try:
        after = _ids(store)
        assert set(after) == {"boats.md", "comets.txt"}
        assert len(after["boats.md"] & before["boats.md"]) == 1  # the unchanged paragraph kept its id
        assert store.count == sum(map(len, after.values()))
        question = "When does the ferry to Skye leave?"
        found = store.candidates([question], np.asarray(embedder.encode([question])), 2)
        assert "dawn" in found.passages[int(np.argmax(found.lexical[0]))].text
        assert not any("noon" in p.text for p in found.passages)
        assert "Halley" in store.text("comets.txt") and "dawn" in store.text("boats.md")
        with pytest.raises(QAError):
            store.text("apples.txt")
        assert not store.knows("orchards")  # the deleted file's words are gone with it
        assert store.manifest["last_sync"] == counts
    finally:
        store.close()


def test_a_sync_reads_only_the_files_that_changed(engine_url, tmp_path, embedder, monkeypatch):
    """As the local build (tests/test_incremental.py): store/corpus.py's scan reads a file only when it is
    not the one the collection holds (size and mtime, else its hash); `full` reads every one."""
    import qa.store.corpus as corpus_pipeline

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _write(corpus, "apples.txt", "Apples\n\nOrchards in Kent grow sharp cooking apples for pies.\n")
    _write(corpus, "boats.md", "# Boats\n\nThe ferry to Skye leaves at noon.\n\nIt carries forty cars.\n")
    read = []
    real = corpus_pipeline.read_document
    monkeypatch.setattr(corpus_pipeline, "read_document",
                        lambda file, name, *rest: read.append(name) or real(file, name, *rest))
    S.index_corpus([corpus], engine_url, embedder, "c")
    assert sorted(read) == ["apples.txt", "boats.md"]
    read.clear()
    _write(corpus, "boats.md", "# Boats\n\nThe ferry to Skye leaves at dawn.\n\nIt carries forty cars.\n")
    (corpus / "apples.txt").touch()  # a new mtime, the same bytes: hashed, not read
    counts = S.index_corpus([corpus], engine_url, embedder, "c")
    assert read == ["boats.md"] and counts == {"written": 1, "skipped": 1, "deleted": 0, "passages_written": 2}
    read.clear()
    assert S.index_corpus([corpus], engine_url, embedder, "c")["skipped"] == 2 and read == []
    assert S.index_corpus([corpus], engine_url, embedder, "c", full=True)["written"] == 2
    assert sorted(read) == ["apples.txt", "boats.md"]
    store = Q.QdrantStore.open(engine_url, "c")
    try:
        assert "dawn" in store.text("boats.md") and store.count == 3
        assert store.manifest["corpus"]["files"] == corpus_pipeline.scan_corpus([corpus], {}).files
    finally:
        store.close()


def test_idf_after_deletes_counts_the_live_passages_only(engine_url, tmp_path, embedder):
    """After files are deleted the engine's IDF is over what is left (N and df of the live points);
    avgdl stays the first build's (docs/scale-out.md: its drift is the one difference from a rebuild)."""
    import math

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(6):
        _write(corpus, f"d{i}.txt", f"Doc {i}\n\nThe ferry sails to island {i} with cars.\n\nHarbour {i} is small.\n")
    S.index_corpus([corpus], engine_url, embedder, "idf")
    for i in range(4):
        (corpus / f"d{i}.txt").unlink()
    _write(corpus, "d5.txt", "Doc 5\n\nThe ferry sails to the harbour at dawn.\n")
    S.index_corpus([corpus], engine_url, embedder, "idf")
    store = Q.QdrantStore.open(engine_url, "idf")
    try:
        question = "ferry sails harbour cars"
        scores = dict(store.engine.search("idf", "bm25", [store.bm25.question(question)], 20)[0])
        live = {pid: dict(zip(*store.bm25.passage(payload_passage(p))))
                for pid, _, p in store.engine.scroll("idf", payload=True)}
        assert len(live) == store.count and set(_ids(store)) == {"d4.txt", "d5.txt"}
        df = lambda i: sum(i in v for v in live.values())  # noqa: E731
        idf = lambda i: math.log(1 + (len(live) - df(i) + 0.5) / (df(i) + 0.5))  # noqa: E731
        expected = {pid: sum(w * idf(i) * v[i] for i, w in zip(*store.bm25.question(question)) if i in v)
                    for pid, v in live.items()}
        assert scores == pytest.approx({pid: s for pid, s in expected.items() if s > 0}, rel=1e-5)
    finally:
        store.close()


def test_a_pdf_keeps_its_pages(engine_url, tmp_path, embedder):
    sys.path.insert(0, str(ROOT / "tests"))
    import ingest_files

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    ingest_files.write_manual_pdf(corpus / "manual.pdf")
    S.index_corpus([corpus], engine_url, embedder, "pdf")
    store = Q.QdrantStore.open(engine_url, "pdf")
    try:
        text = store.text("manual.pdf")
        assert text.startswith("Widget Controller Guide")
        assert store.pages_of([("manual.pdf", 0), ("manual.pdf", text.index("3. Operating")), ("nope.txt", 0)]) \
            == [1, 2, None]
        question = "What does the watcher write before every change?"
        found = store.candidates([question], np.asarray(embedder.encode([question])), 3)
        best = found.passages[int(np.argmax(found.lexical[0]))]
        assert best.page is not None and text[best.start:best.end] == best.text
        # the highlights' pages: the pages the local index gives, read in one request a search (not one a hit)
        asked = []
        retrieve = store.engine.retrieve
        store.engine.retrieve = lambda name, *rest, **kw: asked.append(name) or retrieve(name, *rest, **kw)
        answers = Retriever(store, embedder).search([question, "How is the controller installed?"], 5)
        assert asked.count(store.side) == 1
        local = build_index([corpus], tmp_path / "local", embedder)
        highlights = [h.highlight for a in answers for h in a.passages if h.highlight is not None]
        assert len(highlights) == 10 and all(h.page is not None for h in highlights)
        assert [h.page for h in highlights] == [local.page_of("manual.pdf", h.start) for h in highlights]
    finally:
        store.close()


class FailsAfter:
    """The real embedder, which stops with an error after `calls` calls (a timeout mid-upsert)."""

    def __init__(self, embedder, calls: int) -> None:
        self.embedder, self.calls = embedder, calls
        self.model, self.dimension = embedder.model, embedder.dimension

    def encode(self, texts, progress=None):
        self.calls -= 1
        if self.calls < 0:
            raise TimeoutError("timed out")
        return self.embedder.encode(texts)


def test_rerunning_after_a_failure_mid_upsert_completes_the_collection(engine_url, seed_corpus, seed_local,
                                                                       embedder, monkeypatch):
    monkeypatch.setattr(S, "UPSERT_BATCH", 8)  # the seed document's passages in four requests
    with pytest.raises(TimeoutError):
        S.index_corpus([seed_corpus], engine_url, FailsAfter(embedder, 4), "seed")  # two batches written
    with pytest.raises(QAError) as error:
        Q.QdrantStore.open(engine_url, "seed")
    assert "incomplete" in error.value.message and "qa index --store qdrant" in error.value.message
    assert error.value.status == 503
    counts = S.index_corpus([seed_corpus], engine_url, embedder, "seed")
    assert counts["written"] == 1
    store = Q.QdrantStore.open(engine_url, "seed")
    try:
        assert store.count == len(seed_local.passages)
        assert {p for ids in _ids(store).values() for p in ids} == {p.id for p in seed_local.passages}
    finally:
        store.close()


def test_a_failure_while_updating_leaves_the_last_sync_searchable(engine_url, tmp_path, embedder, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _write(corpus, "a.txt", "Alpha\n\nThe first file is about lighthouses on rocky coasts.\n")
    S.index_corpus([corpus], engine_url, embedder, "u")
    _write(corpus, "b.txt", "Beta\n\nThe second file is about glaciers in the Alps.\n")
    with pytest.raises(TimeoutError):
        S.index_corpus([corpus], engine_url, FailsAfter(embedder, 0), "u")
    store = Q.QdrantStore.open(engine_url, "u")  # the manifest of the last finished sync still stands
    assert set(_ids(store)) == {"a.txt"}
    store.close()
    assert S.index_corpus([corpus], engine_url, embedder, "u")["written"] == 1
    store = Q.QdrantStore.open(engine_url, "u")
    assert set(_ids(store)) == {"a.txt", "b.txt"}
    store.close()


class OtherModel:
    """The real embedder under another model's name (a collection must refuse it)."""

    def __init__(self, embedder) -> None:
        self.embedder, self.model, self.dimension = embedder, "paraphrase-MiniLM-L3-v2", embedder.dimension

    def encode(self, texts, progress=None):
        return self.embedder.encode(texts)


def test_a_local_index_whose_corpus_file_moved_is_copied_without_its_text(tmp_path, seed_corpus, embedder):
    from qa.store.build import build_index

    corpus = tmp_path / "corpus"
    shutil.copytree(seed_corpus, corpus)
    build_index([corpus], tmp_path / "index", embedder)
    shutil.rmtree(corpus)  # a .txt file's text is read from the corpus, which is gone
    url = str(tmp_path / "local")
    assert S.from_local_index(tmp_path / "index", url, "moved")["written"] == 1
    store = Q.QdrantStore.open(url, "moved")
    try:
        assert store.count > 0
        with pytest.raises(QAError) as error:
            store.text("north-korea-diplomacy.txt")
        assert error.value.status == 404 and "holds no text" in error.value.message
    finally:
        store.close()


def test_a_collection_built_with_another_model_is_refused(seed_url, seed_corpus, embedder):
    with pytest.raises(QAError) as error:
        Q.QdrantStore.open(seed_url, "seed", model="paraphrase-MiniLM-L3-v2")
    assert "was built with model 'all-MiniLM-L6-v2', not 'paraphrase-MiniLM-L3-v2'" in error.value.message
    assert "\n" not in error.value.message
    with pytest.raises(QAError) as error:
        S.index_corpus([seed_corpus], seed_url, OtherModel(embedder), "seed")
    assert "was built with model" in error.value.message


def test_a_missing_collection_says_how_to_build_it(seed_url):
    with pytest.raises(QAError) as error:
        Q.QdrantStore.open(seed_url, "nope")
    assert error.value.message == (f"no collection nope at {seed_url}: run `qa index --store qdrant "
                                   f"--qdrant-url {seed_url} --collection nope`")
    assert error.value.status == 503


def test_an_unreachable_server_is_one_line_and_503(seed_corpus, embedder):
    url = "http://127.0.0.1:9"  # loopback, a port nothing listens on
    for attempt in (lambda: Q.QdrantStore.open(url, "qa"),
                    lambda: S.index_corpus([seed_corpus], url, embedder, "qa")):
        with pytest.raises(QAError) as error:
            attempt()
        assert error.value.status == 503
        assert error.value.message.startswith(f"Qdrant at {url} is unreachable") and "\n" not in error.value.message


def test_cluster_settings_are_options_of_qa_index_fixed_at_creation(tmp_path, seed_index_dir, monkeypatch):
    """Neither engine here keeps shard_number, replication_factor or write_consistency_factor (the local
    mode drops them, an edge shard is one shard): the manifest records what the collection was created
    with, and a later sync asking for other settings is refused."""
    from typer.testing import CliRunner

    from qa.cli import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for engine in ENGINES:
        flags = ["index", "--store", "qdrant", "--qdrant-url", url_for(engine, tmp_path / engine), "--collection",
                 "sharded", "--from-index", str(seed_index_dir)]
        result = runner.invoke(app, [*flags, "--shards", "3", "--replicas", "2", "--write-consistency", "2"])
        assert result.exit_code == 0, result.output
        store = Q.QdrantStore.open(url_for(engine, tmp_path / engine), "sharded")
        try:
            assert store.manifest["settings"] == {"shard_number": 3, "replication_factor": 2,
                                                  "write_consistency_factor": 2}
        finally:
            store.close()
        assert runner.invoke(app, [*flags, "--replicas", "2"]).exit_code == 0  # the same as recorded: fine
        result = runner.invoke(app, [*flags, "--shards", "4"])
        assert result.exit_code == 2 and result.stderr.count("\n") == 1
        assert result.stderr.startswith("Error: collection sharded at ") and \
            "--shards 4 (it has 3); they are fixed at creation" in result.stderr
    flags = ["index", "--store", "qdrant", "--qdrant-url", str(tmp_path / "new"), "--from-index", str(seed_index_dir)]
    for bad, said in ((["--shards", "0"], "--shards (shard_number) must be a whole number of 1 or more, not 0"),
                      (["--replicas", "-1"], "--replicas (replication_factor) must be a whole number of 1 or more, "
                                             "not -1"),
                      (["--write-consistency", "0"], "--write-consistency (write_consistency_factor) must be a whole "
                                                     "number of 1 or more, not 0"),
                      (["--replicas", "2", "--write-consistency", "3"], "--write-consistency (3) cannot exceed "
                                                                        "--replicas (2)")):
        result = runner.invoke(app, [*flags, *bad])
        assert result.exit_code == 2 and result.stderr.startswith(f"Error: {said}") and \
            result.stderr.count("\n") == 1, (bad, result.output)
    assert not (tmp_path / "new").exists()  # refused before anything was created
    result = runner.invoke(app, ["index", "--shards", "2"])
    assert result.exit_code == 2 and result.stderr == ("Error: --from-index, --shards, --replicas and "
                                                       "--write-consistency go with --store qdrant\n")


def test_a_server_is_asked_for_the_cluster_settings_at_creation(tmp_path):
    """What the real qdrant-client sends a server to create the collection (a loopback listener stands
    in for the server this machine cannot run, and records the requests): the settings are in it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from qa.store.qdrant_engines import ClientEngine

    bodies = {}

    class Recorder(BaseHTTPRequestHandler):
        def do_PUT(self):
            bodies[self.path.split("?")[0]] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer = json.dumps({"result": True if self.path.count("/") == 2 else
                                 {"operation_id": 0, "status": "completed"}, "status": "ok", "time": 0}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    listener = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    engine = ClientEngine(f"http://127.0.0.1:{listener.server_address[1]}", 5)
    try:
        engine.create("qa", 384, shard_number=6, replication_factor=2, write_consistency_factor=2)
        engine.create_side("qa__qa", shard_number=6, replication_factor=2, write_consistency_factor=2)
    finally:
        engine.close()
        listener.shutdown()
    main, side = bodies["/collections/qa"], bodies["/collections/qa__qa"]
    assert (main["shard_number"], main["replication_factor"], main["write_consistency_factor"]) == (6, 2, 2)
    assert main["vectors"]["sentences"]["multivector_config"] == {"comparator": "max_sim"}
    assert main["sparse_vectors"]["bm25"]["modifier"] == "idf"
    # the side collection is a few records a document: one shard, replicated as the passages are
    assert (side["shard_number"], side["replication_factor"], side["write_consistency_factor"]) == (1, 2, 2)
    assert "/collections/qa/index" in bodies  # the keyword index on doc a delete filters on


def test_the_local_folder_is_not_taken_twice(tmp_path, seed_index_dir):
    url = str(tmp_path / "local")
    S.from_local_index(seed_index_dir, url, "seed")
    store = Q.QdrantStore.open(url, "seed")
    try:
        with pytest.raises(QAError) as error:
            Q.QdrantStore.open(url, "seed")
        assert "already accessed" in error.value.message or "cannot open" in error.value.message
    finally:
        store.close()
    shutil.rmtree(tmp_path / "local")


# --- end to end: the Retriever on the Qdrant store against the local store ----------------------------


@pytest.fixture
def retrievers(seed_store, seed_local, embedder):
    from qa.search.retrieval import Retriever

    return Retriever(LocalStore(seed_local), embedder), Retriever(seed_store, embedder)


def assert_same_answers(mine, theirs) -> None:
    """The same passages in the same order, scores to 2e-4, abstentions and highlights."""
    assert [[h.id for h in a.passages] for a in mine] == [[h.id for h in a.passages] for a in theirs]
    np.testing.assert_allclose([[h.score for h in a.passages] for a in mine],
                               [[h.score for h in a.passages] for a in theirs], atol=2e-4)
    assert [a.answerable for a in mine] == [a.answerable for a in theirs]
    assert [[h.highlight for h in a.passages] for a in mine] == [[h.highlight for h in a.passages] for a in theirs]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_the_retriever_ranks_the_hand_written_set_alike_on_both_stores(retrievers, mode):
    local, qdrant = retrievers
    questions = eval_questions()
    mine, theirs = qdrant.search(questions, 5, mode), local.search(questions, 5, mode)
    assert_same_answers(mine, theirs)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_with_fewer_candidates_than_passages_the_engine_scores_the_second_pass_alike(retrievers, mode, monkeypatch):
    """Each question's 8 best by cosine and 8 by BM25 of the 32 passages, on both stores: the Qdrant
    store hands over no vector with its candidates; the engine scores the hybrid's second pass (the
    moved question's cosine and MAX_SIM), and only the rows read are fetched. Rankings as local."""
    from qa.search import retrieval
    from qa.store import local

    monkeypatch.setattr(retrieval, "CANDIDATES", 8)
    monkeypatch.setattr(local, "EXACT_UP_TO", 0)  # the local store offers candidates the same way
    local_retriever, qdrant = retrievers
    questions = eval_questions()
    found = qdrant.store.candidates(questions[:2], qdrant.embedder.encode(questions[:2]), 8)
    assert found.scorer is not None and not found.exact and len(found.passages) < qdrant.store.count
    assert not found.vectors.fetched.done.any()  # nothing fetched until a row is read
    found.sentence_vectors[found.sentence_spans[:, 0] == 3]
    assert found.vectors.fetched.done.tolist() == [i == 3 for i in range(len(found.passages))]
    mine, theirs = qdrant.search(questions, 5, mode), local_retriever.search(questions, 5, mode)
    assert_same_answers(mine, theirs)


def test_sweden_first_with_highlights_and_abstention_on_qdrant(retrievers):
    from conftest import SEED

    qdrant = retrievers[1]
    source = SEED.read_text(encoding="utf-8")
    for mode in ("hybrid", "bm25"):
        answer = qdrant.ask(PROTECTING, 5, mode)
        assert "Sweden" in answer.passages[0].text and answer.answerable
    for hit in qdrant.ask(PROTECTING, 5).passages:
        assert source[hit.start:hit.end] == hit.text
        assert source[hit.highlight.start:hit.highlight.end] == hit.highlight.text
        assert hit.start <= hit.highlight.start < hit.highlight.end <= hit.end
    for question in ("When did Donald Trump meet Kim Jong Un in Singapore?", "What is the melting point of tungsten?",
                     "In what year did the Six-Party Talks begin?"):
        assert qdrant.ask(question, 5).answerable is False
    questions = [PROTECTING, "How long is the border between China and North Korea?"]
    assert [[h.id for h in a.passages] for a in qdrant.search(questions, 4)] == \
        [[h.id for h in qdrant.ask(q, 4).passages] for q in questions]


# --- the CLI: qa index / qa ask --store qdrant ---------------------------------------------------------


def test_qa_index_and_ask_with_the_qdrant_store(engine_url, workdir, monkeypatch):
    from typer.testing import CliRunner

    from qa.cli import app

    runner = CliRunner()
    flags = ["--store", "qdrant", "--qdrant-url", engine_url, "--collection", "cli"]
    result = runner.invoke(app, ["index", *flags])
    assert result.exit_code == 0, result.output
    assert "1 file(s) written" in result.stdout and "0 unchanged" in result.stdout
    result = runner.invoke(app, ["index", "--json", *flags])
    assert json.loads(result.stdout)["skipped"] == 1
    result = runner.invoke(app, ["index", "--store", "qdrant", "--qdrant-url", engine_url, "--collection", "copy",
                                 "--from-index", "index", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["written"] == 1
    monkeypatch.setenv("QA_STORE", "qdrant")
    monkeypatch.setenv("QA_QDRANT_URL", engine_url)
    for collection in ("cli", "copy"):
        result = runner.invoke(app, ["ask", "--json", "--collection", collection, PROTECTING])
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        assert "Sweden" in answer["passages"][0]["text"] and answer["answerable"]
    result = runner.invoke(app, ["ask", "--collection", "nope", PROTECTING])
    assert result.exit_code == 1 and "Error: no collection nope at" in result.stderr
    # qa eval over the collection scores as over the local index it was built from
    evalset = str(Path(__file__).resolve().parent.parent / "eval" / "questions.jsonl")
    result = runner.invoke(app, ["eval", evalset, "--json", "--collection", "cli"])
    assert result.exit_code == 0, result.output
    over_qdrant = json.loads(result.stdout)
    monkeypatch.setenv("QA_STORE", "local")
    local = json.loads(runner.invoke(app, ["eval", evalset, "--json"]).stdout)
    assert over_qdrant["index"] == "cli" and over_qdrant["runs"]["hybrid"]["metrics"] == local["runs"]["hybrid"]["metrics"]
    result = runner.invoke(app, ["eval", "--beir", "x", "--store", "qdrant", "--qdrant-url", engine_url])
    assert result.exit_code == 2 and result.stderr == "Error: no BEIR folder at x\n"
    # qa text prints the text the offsets index, from the side collection (no corpus folder needed)
    monkeypatch.setenv("QA_STORE", "qdrant")
    source = (workdir / "corpus" / "north-korea-diplomacy.txt").read_text(encoding="utf-8")
    shutil.rmtree(workdir / "corpus")
    for collection in ("cli", "copy"):
        result = runner.invoke(app, ["text", "north-korea-diplomacy.txt", "--collection", collection])
        assert result.exit_code == 0, result.output
        assert result.stdout == source
    result = runner.invoke(app, ["text", "nope.txt", "--collection", "cli"])
    assert result.exit_code == 2 and result.stderr == "Error: no document named 'nope.txt' in this index\n"
    result = runner.invoke(app, ["text", "north-korea-diplomacy.txt", "--collection", "nope"])
    assert result.exit_code == 1 and result.stderr.startswith("Error: no collection nope at")


def test_qa_eval_beir_over_qdrant_scores_as_over_the_local_index(engine_url, beir_folder, tmp_path, shared_model,
                                                                 seed_index_dir, embedder):
    """`qa eval --beir DIR --store qdrant`: the local BEIR index copied into the collection once (nothing
    embedded again), then the same figures, rankings and scores as over the local index in every mode;
    a collection holding another corpus, or this corpus.jsonl before it changed, is one `Error:` line."""
    from typer.testing import CliRunner

    from qa.cli import app
    from qa.search.retrieval import MODES, Retriever

    more = {"q4": ("which fruit is rich in potassium", "d2"), "q5": ("why does a volcano erupt", "d5"),
            "q6": ("the capital city on the river Seine", "d4")}
    with open(beir_folder / "queries.jsonl", "a") as queries, open(beir_folder / "qrels" / "test.tsv", "a") as qrels:
        for qid, (text, doc) in more.items():
            queries.write(json.dumps({"_id": qid, "text": text}) + "\n")
            qrels.write(f"{qid}\t{doc}\t1\n")
    runner = CliRunner()
    base = ["eval", "--beir", str(beir_folder), "--compare", "--json", "--index-dir", str(tmp_path / "ix")]
    flags = ["--store", "qdrant", "--qdrant-url", engine_url, "--collection", "beir"]
    local = runner.invoke(app, base)
    assert local.exit_code == 0, local.output
    local = json.loads(local.stdout)
    result = runner.invoke(app, [*base, *flags])
    assert result.exit_code == 0, result.output
    assert "copying the BEIR index" in result.stderr and "embedding" not in result.stderr
    over = json.loads(result.stdout)
    assert (over["index"], over["url"], over["documents"], over["queries"], over["k"]) == ("beir", engine_url, 5, 5, 5)
    assert list(over["runs"]) == list(MODES) == list(local["runs"])
    for mode in MODES:
        assert over["runs"][mode]["metrics"] == local["runs"][mode]["metrics"]
        assert over["runs"][mode]["abstention"] == local["runs"][mode]["abstention"]
    assert local["runs"]["bm25"]["metrics"] != local["runs"]["dense"]["metrics"]  # the modes rank differently
    again = runner.invoke(app, [*base, *flags])
    assert again.exit_code == 0 and "copying" not in again.stderr  # reused
    assert {m: r["metrics"] for m, r in json.loads(again.stdout)["runs"].items()} == \
        {m: r["metrics"] for m, r in over["runs"].items()}
    local_index = load_index(next(tmp_path.glob("ix.beir-*")))
    questions = [json.loads(line)["text"] for line in (beir_folder / "queries.jsonl").read_text().splitlines()]
    store = Q.QdrantStore.open(engine_url, "beir")
    try:
        for mode in MODES:
            assert_same_answers(Retriever(store, embedder).search(questions, 5, mode),
                                Retriever(local_index, embedder).search(questions, 5, mode))
    finally:
        store.close()
    S.from_local_index(seed_index_dir, engine_url, "seed")
    result = runner.invoke(app, [*base, *flags[:-1], "seed"])
    seed_sources = ", ".join(load_index(seed_index_dir).manifest["sources"])
    assert result.exit_code == 2 and result.stderr == (
        f"Error: collection seed at {engine_url} holds {seed_sources}, not the BEIR corpus "
        f"{beir_folder / 'corpus.jsonl'}: give another --collection\n")
    with open(beir_folder / "corpus.jsonl", "a") as corpus:
        corpus.write(json.dumps({"_id": "d6", "title": "Moon", "text": "The Moon orbits the Earth."}) + "\n")
    result = runner.invoke(app, [*base, *flags])
    assert result.exit_code == 2 and result.stderr.splitlines()[-1] == (
        f"Error: collection beir at {engine_url} holds {beir_folder / 'corpus.jsonl'} as it was before it changed, "
        f"not the BEIR corpus {beir_folder / 'corpus.jsonl'}: give another --collection")
    result = runner.invoke(app, [*base, "--store", "qdrant", "--qdrant-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and result.stderr.startswith("Error: Qdrant at http://127.0.0.1:9 is unreachable")
    assert result.stderr.count("\n") == 1  # said before the stale local index is rebuilt


def test_qa_with_the_qdrant_store_says_what_is_wrong_in_one_line(workdir):
    from typer.testing import CliRunner

    from qa.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["ask", "--store", "qdrant", PROTECTING])
    assert result.exit_code == 2 and "needs --qdrant-url" in result.stderr
    result = runner.invoke(app, ["ask", "--store", "qdrnt", "--qdrant-url", "x", PROTECTING])
    assert result.exit_code == 2 and "--store must be local or qdrant" in result.stderr
    result = runner.invoke(app, ["ask", "--store", "qdrant", "--qdrant-url", "http://127.0.0.1:9", PROTECTING])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Qdrant at http://127.0.0.1:9 is unreachable") and \
        result.stderr.count("\n") == 1


# --- the HTTP API over the Qdrant store ------------------------------------------------------------------


def test_the_api_over_qdrant_answers_and_says_503_when_qdrant_goes_down(seed_store, embedder):
    from fastapi.testclient import TestClient

    from qa.search.retrieval import Retriever
    from qa.serve.app import create_app
    from qa.store.qdrant_engines import ClientEngine

    retriever = Retriever(seed_store, embedder)
    with TestClient(create_app(retriever), base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        health = client.get("/health").json()
        assert (health["status"], health["store"], health["passage_count"]) == ("ok", "qdrant", seed_store.count)
        answer = client.post("/ask", json={"question": PROTECTING, "k": 2}).json()
        assert "Sweden" in answer["passages"][0]["text"]
        shown = client.get(f"/passages/{answer['passages'][0]['id']}").json()
        assert shown["next"] == seed_store.neighbours(shown["id"])[1]
        reachable, seed_store.engine = seed_store.engine, ClientEngine("http://127.0.0.1:9", 2)  # the cluster goes down
        try:
            health = client.get("/health")
            assert health.status_code == 503
            assert (health.json()["status"], health.json()["store"], health.json()["reachable"]) == \
                ("unavailable", "qdrant", False)
            assert health.json()["message"].startswith("Qdrant at http://127.0.0.1:9 is unreachable")
            for response in (client.post("/ask", json={"question": PROTECTING}), client.get(f"/passages/{shown['id']}")):
                assert response.status_code == 503
                assert response.json()["error"]["message"].startswith("Qdrant at http://127.0.0.1:9 is unreachable")
        finally:
            seed_store.engine.close()
            seed_store.engine = reachable


def test_qa_serve_with_the_qdrant_store(engine_url, seed_index_dir, tmp_path, monkeypatch):
    import httpx

    from conftest import start_server, stop_server

    S.from_local_index(seed_index_dir, engine_url, "served")
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "src"))  # the subprocess runs this checkout's qa
    process, url = start_server(tmp_path / "no-index", tmp_path / "serve.log",
                                ["--store", "qdrant", "--qdrant-url", engine_url, "--collection", "served"])
    try:
        health = httpx.get(f"{url}/health", timeout=30).json()
        assert health["status"] == "ok" and health["passage_count"] > 0
        answer = httpx.post(f"{url}/ask", json={"question": PROTECTING, "k": 3}, timeout=60).json()
        assert "Sweden" in answer["passages"][0]["text"]
    finally:
        stop_server(process)


def test_qa_serve_starts_while_qdrant_is_unreachable_and_recovers_by_itself(seed_index_dir, tmp_path, monkeypatch):
    """Nothing listening at the server URL: the server starts and answers 503 saying so. An edge
    collection that does not exist yet when the server starts: 503, then served once it appears
    (built elsewhere and moved into place whole, as nothing else may hold an edge folder), no restart."""
    import os
    import time

    import httpx

    from conftest import free_port, start_server, stop_server

    monkeypatch.setenv("PYTHONPATH", str(ROOT / "src"))  # the subprocess runs this checkout's qa
    down = f"http://127.0.0.1:{free_port()}"  # a loopback port nothing listens on
    process, url = start_server(tmp_path / "no-index", tmp_path / "down.log", ["--store", "qdrant", "--qdrant-url", down])
    try:
        health = httpx.get(f"{url}/health", timeout=30)
        assert health.status_code == 503
        body = health.json()
        assert (body["status"], body["store"], body["reachable"], body["passage_count"]) == \
            ("unavailable", "qdrant", False, None)
        assert body["message"].startswith(f"the collection cannot be opened: Qdrant at {down} is unreachable")
        assert body["message"].endswith("tried again every 1 s")
        answer = httpx.post(f"{url}/ask", json={"question": PROTECTING}, timeout=30)
        assert answer.status_code == 503 and answer.json()["error"]["message"] == body["message"]
    finally:
        assert stop_server(process) in (0, -15)
    assert "Traceback" not in (tmp_path / "down.log").read_text()

    served = tmp_path / "edge"
    process, url = start_server(tmp_path / "no-index", tmp_path / "late.log",
                                ["--store", "qdrant", "--qdrant-url", f"edge:{served}", "--collection", "late"])
    try:
        body = httpx.get(f"{url}/health", timeout=30).json()
        assert (body["status"], body["store"], body["reachable"]) == ("unavailable", "qdrant", True)
        assert body["message"].startswith(f"the collection cannot be opened: no collection late at edge:{served}")
        S.from_local_index(seed_index_dir, f"edge:{tmp_path / 'staging'}", "late")
        os.rename(tmp_path / "staging", served)
        deadline = time.monotonic() + 30
        while (health := httpx.get(f"{url}/health", timeout=30)).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert health.status_code == 200, health.text
        assert (health.json()["store"], health.json()["reachable"]) == ("qdrant", True)
        answer = httpx.post(f"{url}/ask", json={"question": PROTECTING, "k": 3}, timeout=60).json()
        assert "Sweden" in answer["passages"][0]["text"]
    finally:
        assert stop_server(process) in (0, -15)
    log = (tmp_path / "late.log").read_text()
    assert "the collection opened: serving" in log and log.count("no collection late") == 1  # said once
