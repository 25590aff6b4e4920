"""RowFile: rows of an on-disk matrix read with pread, equal to the array, and not mapped into the process."""

from __future__ import annotations

import numpy as np
import pytest

from qa.store.row_file import RowFile


def test_gathered_rows_equal_the_array_and_runs_are_read_whole(tmp_path):
    matrix = np.random.default_rng(0).standard_normal((500, 7)).astype(np.float16)
    np.save(tmp_path / "m.npy", matrix)
    rows = np.array([0, 1, 2, 10, 11, 250, 499])
    gathered = RowFile.of_npy(tmp_path / "m.npy").gather(rows)
    assert gathered.dtype == np.float16 and np.array_equal(gathered, matrix[rows])
    assert RowFile.of_npy(tmp_path / "m.npy").gather(np.zeros(0, dtype=np.int64)).shape == (0, 7)
    with pytest.raises(IndexError):
        RowFile.of_npy(tmp_path / "m.npy").gather(np.array([500]))


def test_a_faiss_flat_file_ends_with_its_vectors(tmp_path):
    import faiss

    vectors = np.random.default_rng(1).standard_normal((300, 16)).astype(np.float32)
    index = faiss.IndexFlatIP(16)
    index.add(vectors)
    faiss.write_index(index, str(tmp_path / "dense.faiss"))
    size = (tmp_path / "dense.faiss").stat().st_size
    rows = np.array([3, 4, 5, 299])
    np.testing.assert_array_equal(RowFile(tmp_path / "dense.faiss", size - vectors.nbytes, vectors.shape,
                                          np.float32).gather(rows), vectors[rows])


def test_gathering_does_not_map_the_file(tmp_path):
    np.save(tmp_path / "big.npy", np.zeros((100_000, 64), dtype=np.float32))  # 25.6 MB
    RowFile.of_npy(tmp_path / "big.npy").gather(np.arange(0, 100_000, 50))
    with open("/proc/self/maps") as maps:
        assert str(tmp_path / "big.npy") not in maps.read()
