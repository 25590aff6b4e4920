"""The index on disk: round trip, staleness, atomic replacement, corruption."""

import json
import shutil

import numpy as np
import pytest

from qa.errors import QAError
from qa.store.local.index import load_index, read_manifest, stale_reason
from qa.store.local.build import build_index
from qa.ingest.passages import split_documents
from qa.ingest.files import read_documents


def test_round_trip(seed_index_dir, seed_corpus):
    index = load_index(seed_index_dir)
    again = load_index(seed_index_dir)
    passages = split_documents(read_documents([seed_corpus]))
    assert index.passages == passages == again.passages
    assert np.array_equal(index.vectors(), again.vectors())
    norms = np.linalg.norm(index.vectors(), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)
    manifest = index.manifest
    assert manifest["format_version"] == 1
    assert manifest["model"] == "all-MiniLM-L6-v2"
    assert manifest["dimension"] == 384
    assert manifest["passage_count"] == len(passages)
    assert manifest["passage_encoder"].startswith(("openvino ", "onnxruntime "))  # what embedded the passages
    assert [f["doc"] for f in manifest["files"]] == ["north-korea-diplomacy.txt"]
    assert len(manifest["files"][0]["sha256"]) == 64
    assert manifest["built_at"]
    assert index.bm25.num_docs == len(passages)


def test_no_pickle_anywhere(seed_index_dir):
    for path in seed_index_dir.rglob("*"):
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)
        assert path.suffix not in {".pkl", ".pickle"}


def _copy_corpus_and_index(tmp_path, seed_corpus, seed_index_dir):
    corpus = tmp_path / "corpus"
    shutil.copytree(seed_corpus, corpus)
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
    manifest = read_manifest(index_dir)
    manifest["sources"] = [str(corpus)]
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    return corpus, index_dir


def test_stale_when_corpus_changes(tmp_path, seed_corpus, seed_index_dir):
    corpus, index_dir = _copy_corpus_and_index(tmp_path, seed_corpus, seed_index_dir)
    manifest = read_manifest(index_dir)
    assert stale_reason(manifest, "all-MiniLM-L6-v2") is None
    assert "model" in stale_reason(manifest, "other-model")
    (corpus / "extra.md").write_text("# Extra\n\nA new file.\n")
    assert "added extra.md" in stale_reason(manifest, "all-MiniLM-L6-v2")
    (corpus / "extra.md").unlink()
    seed = corpus / "north-korea-diplomacy.txt"
    seed.write_text(seed.read_text() + "\nOne more sentence.\n")
    assert "north-korea-diplomacy.txt changed" in stale_reason(manifest, "all-MiniLM-L6-v2")
    seed.unlink()
    assert "no .txt, .md, .pdf, .html or .docx files" in stale_reason(manifest, "all-MiniLM-L6-v2")


def test_interrupted_build_leaves_the_old_index_loadable(tmp_path, seed_corpus, seed_index_dir):
    _, index_dir = _copy_corpus_and_index(tmp_path, seed_corpus, seed_index_dir)
    before = load_index(index_dir).passages

    class Interrupted:
        model = "all-MiniLM-L6-v2"
        dimension = 384

        def encode(self, texts, progress=None):
            raise KeyboardInterrupt  # Ctrl-C while embedding

    with pytest.raises(KeyboardInterrupt):
        build_index([seed_corpus], index_dir, Interrupted())
    assert load_index(index_dir).passages == before
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_rebuild_replaces_the_index_atomically(tmp_path, seed_corpus, embedder):
    index_dir = tmp_path / "index"
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Alpha\n\nThe first document talks about apples.\n")
    build_index([corpus], index_dir, embedder)
    (corpus / "b.md").write_text("# Beta\n\nThe second one is about bananas.\n")
    build_index([corpus], index_dir, embedder)
    index = load_index(index_dir)
    assert [p.doc for p in index.passages] == ["a.txt", "b.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "index"]


@pytest.mark.parametrize("damage", ["manifest", "passages", "dense", "truncate", "version"])
def test_corrupt_index_says_to_run_qa_index(tmp_path, seed_corpus, seed_index_dir, damage):
    _, index_dir = _copy_corpus_and_index(tmp_path, seed_corpus, seed_index_dir)
    if damage == "manifest":
        (index_dir / "manifest.json").write_text("{not json")
    elif damage == "passages":
        (index_dir / "passages.jsonl").unlink()
    elif damage == "dense":
        (index_dir / "dense.faiss").write_bytes(b"garbage")
    elif damage == "truncate":
        lines = (index_dir / "passages.jsonl").read_text().splitlines()
        (index_dir / "passages.jsonl").write_text("\n".join(lines[:3]) + "\n")
    else:
        manifest = json.loads((index_dir / "manifest.json").read_text())
        manifest["format_version"] = 99
        (index_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(QAError) as error:
        load_index(index_dir)
    assert "run `qa index`" in error.value.message


def test_non_utf8_file_is_skipped_with_a_warning(tmp_path, embedder):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "good.txt").write_text("Good\n\nReadable text here.\n")
    (corpus / "bad.txt").write_bytes(b"Bad\n\n\xff\xfe not utf-8 \xc3\x28\n")
    warnings = []
    index = build_index([corpus], tmp_path / "index", embedder, warn=warnings.append)
    assert [p.doc for p in index.passages] == ["good.txt"]
    assert len(warnings) == 1 and "bad.txt" in warnings[0] and "UTF-8" in warnings[0]
    assert stale_reason(index.manifest, "all-MiniLM-L6-v2") is None  # a skipped file is not "added"


def test_passage_vectors_are_a_view_of_faiss_memory_that_keeps_it_alive(seed_index_dir):
    import gc

    index = load_index(seed_index_dir)
    expected = index.dense.reconstruct_n(0, index.dense.ntotal)
    vectors = index.vectors()
    assert not vectors.flags.owndata and not vectors.flags.writeable  # no second copy, never written
    del index
    gc.collect()
    assert np.array_equal(np.asarray(vectors[2:4]), expected[2:4])  # the FAISS index outlives its Index


def test_sentence_vectors_are_kept_as_float16_and_searched_as_float32(seed_index_dir):
    from qa.store.local.store import LocalStore

    index = load_index(seed_index_dir)
    assert index.sentence_vectors.dtype == np.float16
    found = LocalStore(index).candidates(["who leads the talks?"], np.ones((1, index.dense.d), np.float32), 5)
    assert found.sentence_vectors.dtype == np.float32
    assert np.allclose(found.sentence_vectors, index.sentence_vectors, atol=1e-3)
    assert found.vectors.flags.aligned  # numpy multiplies a misaligned float32 array without BLAS
