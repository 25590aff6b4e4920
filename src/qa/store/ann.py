"""The approximate first pass for large indexes: a FAISS IVF index of fp16 passage vectors, by inner product."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np

# Chosen by benchmarks/bench_ann.py (see its figures in the commit that set them):
ANN_FROM = 50_000  # from this many passages an ANN index is built; below it exact flat search is used
KIND = "IVF-SQfp16"  # IndexIVFScalarQuantizer, QT_fp16: 2 bytes a dimension, scores within ~1e-3 of exact
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


def build_ann(vectors: np.ndarray, path: Path) -> dict:
    """Build the ANN index of `vectors` (n × d float32, L2-normalized; a read-only memmap is fine),
    write it atomically at `path` and return what was built, for the manifest."""
    import faiss

    n, d = vectors.shape
    if n == 0:
        raise ValueError("no vectors to index")
    index = trained(vectors)
    for start in range(0, n, CHUNK):
        index.add(_rows(vectors, slice(start, start + CHUNK)))
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
            "faiss": faiss.__version__}


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


def _rows(vectors: np.ndarray, rows) -> np.ndarray:
    return np.ascontiguousarray(vectors[rows], dtype=np.float32)


class Ann:
    """A loaded ANN index: `search` returns each query's k best rows and their (fp16-exact) scores."""

    def __init__(self, index, record: dict):
        self.index = index
        self.record = record
        self.nprobe = int(record["nprobe"])
        self.count = int(index.ntotal)

    def search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows (q × k int64, -1 where fewer than k are found) and scores (q × k float32, -inf there)."""
        import faiss

        queries = np.ascontiguousarray(query_vectors, dtype=np.float32).reshape(-1, self.index.d)
        if k <= 0 or len(queries) == 0 or self.count == 0:
            return np.full((len(queries), max(k, 0)), -1, np.int64), np.full((len(queries), max(k, 0)), -np.inf, np.float32)
        take = min(k, self.count)
        # A deep search (the retriever's 1,000 candidates) must scan lists holding enough vectors.
        nlist = self.index.nlist
        nprobe = min(nlist, max(self.nprobe, math.ceil(MIN_SCAN * take * nlist / self.count)))
        scores, rows = self.index.search(queries, take, params=faiss.SearchParametersIVF(nprobe=nprobe))
        rows = rows.astype(np.int64, copy=False)
        scores = np.where(rows < 0, np.float32(-np.inf), scores).astype(np.float32, copy=False)
        if take < k:
            rows = np.pad(rows, ((0, 0), (0, k - take)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, k - take)), constant_values=-np.inf)
        return rows, scores


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
