"""RowFile: rows of an on-disk matrix read with pread, equal to the array, and not mapped into the process."""

from __future__ import annotations

import numpy as np
import pytest

from qa.store.local.row_file import RowFile


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


def test_rows_read_into_a_buffer_and_copied_file_to_file_equal_the_array(tmp_path):
    matrix = np.random.default_rng(2).standard_normal((400, 5)).astype(np.float16)
    np.save(tmp_path / "m.npy", matrix)
    rows = RowFile.of_npy(tmp_path / "m.npy")
    out = np.zeros((30, 5), dtype=np.float16)
    rows.read_into(100, out)
    assert np.array_equal(out, matrix[100:130])
    with pytest.raises(IndexError):
        rows.read_into(390, out)
    with pytest.raises(ValueError):
        rows.read_into(0, np.zeros((3, 5), dtype=np.float32))
    target = np.lib.format.open_memmap(tmp_path / "t.npy", mode="w+", dtype=np.float16, shape=(250, 5))
    with open(tmp_path / "t.npy", "r+b") as handle:
        rows.copy_to(handle.fileno(), target.offset + 10 * rows.shape[1] * 2, 200, 400)
    assert np.array_equal(np.load(tmp_path / "t.npy")[10:210], matrix[200:400])
    assert not np.load(tmp_path / "t.npy")[:10].any() and not np.load(tmp_path / "t.npy")[210:].any()


def test_a_copy_falls_back_to_reading_where_the_kernel_cannot_copy(tmp_path, monkeypatch):
    import os

    from qa.store.local import row_file

    data = os.urandom(3 << 20)
    (tmp_path / "a").write_bytes(data)
    (tmp_path / "b").write_bytes(b"\0" * 10)

    def refuse(*args):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refuse, raising=False)
    with open(tmp_path / "a", "rb") as source, open(tmp_path / "b", "r+b") as target:
        row_file.copy_bytes(source.fileno(), 5, target.fileno(), 4, len(data) - 5)
        with pytest.raises(OSError, match="short read"):
            row_file.copy_bytes(source.fileno(), len(data) - 1, target.fileno(), 0, 2)
    assert (tmp_path / "b").read_bytes()[4:] == data[5:]
