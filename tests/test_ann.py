"""store/local/ann.py: the ANN first pass finds what exact search finds, and its file round-trips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qa.store.local import ann

D = 384


def _normalized(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    """12,000 clustered unit vectors (300 topics, 40 noisy members each) and 200 held-out queries
    drawn near the same topics, as questions are near the passages that answer them."""
    rng = np.random.default_rng(3)
    topics = _normalized(rng.standard_normal((300, D)))
    vectors = _normalized(topics[np.arange(12_000) % 300] + 0.05 * rng.standard_normal((12_000, D)))
    queries = _normalized(topics[rng.integers(0, 300, 200)] + 0.06 * rng.standard_normal((200, D)))
    return vectors, queries


@pytest.fixture(scope="module")
def built(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("ann") / "ann.faiss"
    record = ann.build_ann(data[0], path)
    return path, record


def _exact(vectors, queries, k):
    scores = queries @ vectors.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def test_recall_at_10_against_exact(data, built):
    vectors, queries = data
    rows, scores = ann.load_ann(*built).search(queries, 10)
    truth = _exact(vectors, queries, 10)
    recall = np.mean([len(set(r) & set(t)) / 10 for r, t in zip(rows, truth)])
    assert recall >= 0.95
    assert rows.dtype == np.int64 and scores.dtype == np.float32 and rows.shape == scores.shape == (200, 10)
    # the scores are the rows' cosines (fp16 codes: within 1e-2), best first
    cosines = np.take_along_axis(queries @ vectors.T, rows, 1)
    assert np.abs(cosines - scores).max() < 1e-2
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_record_is_json_and_describes_the_build(data, built):
    path, record = built
    assert json.loads(json.dumps(record)) == record
    assert record["kind"] == ann.KIND and record["n"] == len(data[0]) and record["d"] == D
    assert 1 <= record["nprobe"] <= record["nlist"]
    assert not list(path.parent.glob(".ann.faiss.*"))  # the temporary file was renamed into place


def test_mmap_and_read_loads_find_the_same(data, built):
    queries = data[1]
    mapped = ann.load_ann(*built, mmap=True).search(queries, 10)
    read = ann.load_ann(*built, mmap=False).search(queries, 10)
    np.testing.assert_array_equal(mapped[0], read[0])
    np.testing.assert_array_equal(mapped[1], read[1])


def test_build_is_deterministic(data, built, tmp_path):
    vectors = data[0]
    memmapped = tmp_path / "v.npy"
    np.save(memmapped, vectors)
    record = ann.build_ann(np.load(memmapped, mmap_mode="r"), tmp_path / "again.faiss")  # read-only input
    assert record == built[1]
    assert (tmp_path / "again.faiss").read_bytes() == built[0].read_bytes()


def test_k_beyond_the_index_pads_with_minus_one(tmp_path):
    vectors = _normalized(np.random.default_rng(5).standard_normal((40, D)))
    record = ann.build_ann(vectors, tmp_path / "small.faiss")
    index = ann.load_ann(tmp_path / "small.faiss", record)
    rows, scores = index.search(vectors[:3], 50)
    assert rows.shape == scores.shape == (3, 50)
    assert np.all(rows[:, 40:] == -1) and np.all(np.isneginf(scores[:, 40:]))
    assert sorted(rows[0, :40]) == list(range(40))  # a deep search scans every list it must
    assert rows[0, 0] == 0 and rows[2, 0] == 2  # each vector finds itself first
    empty_rows, empty_scores = index.search(vectors[:2], 0)
    assert empty_rows.shape == empty_scores.shape == (2, 0)


def test_load_refuses_a_record_of_another_index(built):
    path, record = built
    with pytest.raises(ValueError):
        ann.load_ann(path, {**record, "n": record["n"] + 1})
