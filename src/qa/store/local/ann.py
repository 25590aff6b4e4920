"""The approximate first pass for large indexes: a FAISS IVF index of fp16 passage vectors, by inner product."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

# Chosen by benchmarks/bench_ann.py on real MiniLM vectors and questions (figures in the commit that set them).
# Exact search costs ~3 ms a question from 50k passages on (faiss Flat, one thread; 6 ms at 100k, 113 ms
# at 1M) and is exact below it, where the saving is a ms or two; the IVF index answers in 0.1-1 ms.
ANN_FROM = 50_000  # from this many passages an ANN index is built; below it exact flat search is used
# IVF-SQfp16 beat HNSW (Flat and SQ8: 1M, ef=512 recall@10 0.940 at 1.2 ms, 8 min to build, 1.8 KB a
# vector) and IVF-Flat (same recall, twice the bytes); IVF-SQ8 halves the bytes again for 0.005-0.016 recall.
# Single-query search uses one thread whatever faiss.omp_get_max_threads() says (parallel_mode 0 splits
# the queries, not the lists): the server gains nothing from 2 threads here.
KIND = "IVF-SQfp16"  # IndexIVFScalarQuantizer, QT_fp16: 2 bytes a dimension, scores within ~1e-4 of exact
TRAIN_PER_LIST = 64  # k-means sample: this many vectors a list (at most n)
NITER = 10  # k-means iterations
SEED = 1234  # k-means and sample seed: two builds of the same vectors are the same file
PROBE_SHARE = 1 / 64  # nprobe: this share of the lists is scanned a question (at least MIN_PROBE)
MIN_PROBE = 32
MIN_SCAN = 10  # a search asking k rows scans lists holding about MIN_SCAN × k vectors, at least
CHUNK = 65_536  # vectors converted and added at a time (a memmap is never copied whole)


def nlist_for(n: int) -> int:
    """The number of inverted lists for `n` vectors: the power of two nearest 4·√n (at least 16)."""
    return max(16, 2 ** round(math.log2(4 * math.sqrt(max(n, 1)))))


def nprobe_for(nlist: int) -> int:
    """The lists scanned a question by default: PROBE_SHARE of them, at least MIN_PROBE."""
    return min(nlist, max(MIN_PROBE, math.ceil(PROBE_SHARE * nlist)))


def build_ann(vectors: np.ndarray, path: Path, previous: tuple[Path, dict] | None = None,
              old_to_new: np.ndarray | None = None) -> dict:
    """Build the ANN index of `vectors` (n × d float32, L2-normalized; a read-only memmap is fine),
    write it atomically at `path` and return what was built, for the manifest.

    `previous` (an earlier build's file and record) lends its trained lists when it has as many as
    `n` vectors call for (k-means at 1M takes minutes), and, with `old_to_new` (each of its rows'
    row now, -1 for one gone), the entries of the rows that stay, moved to their new rows: an
    update then assigns only its new vectors to lists.
    """
    import faiss

    n, d = vectors.shape
    if n == 0:
        raise ValueError("no vectors to index")
    reused = _retrained(previous, n, d)
    index = trained(vectors) if reused is None else reused
    if reused is not None and old_to_new is not None:
        carried = _carry(previous[0], old_to_new, index)
        rest = np.ones(n, dtype=bool)
        rest[carried] = False
        rest = np.flatnonzero(rest)
        for start in range(0, len(rest), CHUNK):
            rows = rest[start : start + CHUNK]
            index.add_with_ids(_rows(vectors, rows), rows.astype(np.int64))
    else:
        for start in range(0, n, CHUNK):
            index.add(_rows(vectors, slice(start, start + CHUNK)))
    if index.ntotal != n:
        raise ValueError(f"the ANN index holds {index.ntotal} vectors, not {n}")
    path = Path(path)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        faiss.write_index(index, temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return {"kind": KIND, "n": int(n), "d": int(d), "nlist": index.nlist, "nprobe": nprobe_for(index.nlist),
            "train": min(n, index.nlist * TRAIN_PER_LIST), "niter": NITER, "seed": SEED, "metric": "inner_product",
            "faiss": faiss.__version__,
            "trained_on": int(n) if reused is None else int(previous[1].get("trained_on", previous[1]["n"]))}


def _reusable(previous: tuple[Path, dict] | None, n: int, d: int) -> bool:
    return previous is not None and previous[1].get("kind") == KIND and previous[1].get("d") == d \
        and previous[1].get("nlist") == nlist_for(n)


def _retrained(previous: tuple[Path, dict] | None, n: int, d: int):
    """An empty index with `previous`'s trained lists (its coarse centroids; fp16 needs no training),
    or None when there is none of the right shape."""
    import faiss

    if not _reusable(previous, n, d):
        return None
    try:
        old = faiss.read_index(str(previous[0]), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        quantizer = faiss.clone_index(faiss.downcast_index(faiss.extract_index_ivf(old).quantizer))
    except RuntimeError:
        return None
    index = faiss.IndexIVFScalarQuantizer(quantizer, d, quantizer.ntotal, faiss.ScalarQuantizer.QT_fp16,
                                          faiss.METRIC_INNER_PRODUCT)
    index.is_trained = True
    return index


def trained(vectors: np.ndarray):
    """An empty IVF-SQfp16 index whose lists are k-means trained (spherical, seeded) on a fixed sample."""
    import faiss

    n, d = vectors.shape
    nlist = nlist_for(n)
    index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(d), d, nlist, faiss.ScalarQuantizer.QT_fp16,
                                          faiss.METRIC_INNER_PRODUCT)
    index.cp.seed, index.cp.niter, index.cp.spherical = SEED, NITER, True
    index.cp.max_points_per_centroid = TRAIN_PER_LIST  # faiss would subsample again above this
    rows = np.sort(np.random.default_rng(SEED).choice(n, size=min(n, nlist * TRAIN_PER_LIST), replace=False))
    index.train(_rows(vectors, rows))
    return index


def _carry(path: Path, old_to_new: np.ndarray, index) -> np.ndarray:
    """Copy the entries of the index at `path` whose rows stay into `index`'s lists (the same lists:
    their codes are unchanged), under their new rows; the new rows so filled."""
    import faiss

    old = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    lists = faiss.downcast_InvertedLists(old.invlists)
    lists.prefetch_nthread = 0
    code_size, filled = old.code_size, []
    for number in range(old.nlist):
        size = lists.list_size(number)
        if not size:
            continue
        moved = old_to_new[faiss.rev_swig_ptr(lists.get_ids(number), size)]
        keep = moved >= 0
        ids = np.ascontiguousarray(moved[keep], dtype=np.int64)
        codes = np.ascontiguousarray(faiss.rev_swig_ptr(lists.get_codes(number), size * code_size)
                                     .reshape(size, code_size)[keep])
        if len(ids):
            index.invlists.add_entries(number, len(ids), faiss.swig_ptr(ids), faiss.swig_ptr(codes))
            filled.append(ids)
    carried = np.concatenate(filled) if filled else np.zeros(0, dtype=np.int64)
    index.ntotal = len(carried)
    return carried


def _rows(vectors: np.ndarray, rows) -> np.ndarray:
    return np.ascontiguousarray(vectors[rows], dtype=np.float32)


class Ann:
    """A loaded ANN index: `search` returns each query's k best rows and their (fp16-exact) scores."""

    def __init__(self, index, record: dict):
        self.index = index
        self.record = record
        self.nprobe = int(record["nprobe"])
        self.count = int(index.ntotal)

    def search(self, query_vectors: np.ndarray, k: int, alive: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows (q × k int64, -1 where fewer than k are found) and scores (q × k float32, -inf there);
        with `alive` (a flag per row), only rows flagged are found (an index's delta: store/local/delta.py)."""
        import faiss

        queries = np.ascontiguousarray(query_vectors, dtype=np.float32).reshape(-1, self.index.d)
        count = self.count if alive is None else int(np.count_nonzero(alive))
        if k <= 0 or len(queries) == 0 or count == 0:
            return np.full((len(queries), max(k, 0)), -1, np.int64), np.full((len(queries), max(k, 0)), -np.inf, np.float32)
        take = min(k, count)
        # A deep search (the retriever's 1,000 candidates) must scan lists holding enough vectors.
        nlist = self.index.nlist
        nprobe = min(nlist, max(self.nprobe, math.ceil(MIN_SCAN * take * nlist / count)))
        params = faiss.SearchParametersIVF(nprobe=nprobe)
        if alive is not None:
            params.sel = self._selector(alive)
        scores, rows = self.index.search(queries, take, params=params)
        rows = rows.astype(np.int64, copy=False)
        scores = np.where(rows < 0, np.float32(-np.inf), scores).astype(np.float32, copy=False)
        if take < k:
            rows = np.pad(rows, ((0, 0), (0, k - take)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, k - take)), constant_values=-np.inf)
        return rows, scores

    def _selector(self, alive: np.ndarray):
        """A FAISS selector of the rows flagged in `alive`, made once per array (it keeps the bitmap)."""
        import faiss

        if getattr(self, "_selected", (None,))[0] is not alive:
            bits = np.packbits(np.asarray(alive, dtype=bool), bitorder="little")
            self._selected = (alive, bits, faiss.IDSelectorBitmap(len(alive), faiss.swig_ptr(bits)))
        return self._selected[2]


def load_ann(path: Path, record: dict, mmap: bool = True) -> Ann:
    """Load the index `build_ann` wrote at `path`; `mmap` maps its inverted lists instead of reading them."""
    import faiss

    flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
    index = faiss.read_index(str(path), flags)
    if mmap:  # mapped lists are OnDiskInvertedLists: their prefetch threads cost ~0.1 ms a list scanned
        faiss.downcast_InvertedLists(index.invlists).prefetch_nthread = 0
    if index.ntotal != record.get("n") or index.d != record.get("d"):
        raise ValueError(f"{path} holds {index.ntotal} vectors of {index.d} dimensions, not the "
                         f"{record.get('n')} × {record.get('d')} its record says")
    return Ann(index, record)
