"""An index's delta: the documents added or changed since its base was written, searched beside it as one corpus.

An update of a large index (store/local/build_delta.py) does not rewrite the base: its files are linked
into the new version as they are, the passages of added and changed documents go into `delta/`
(the same files as an index's, for those passages only), and the base rows of changed and deleted
documents are listed as dead. A search (store/local/store.py's DeltaStore) gives what a full rebuild of the corpus gives:

- rows are ranked in the rebuild's order (`position`: a passage's row in a rebuild), so candidates,
  ties and min-max come out as they would there;
- BM25 weighs every posting with the whole corpus's statistics: passages, document frequencies and
  the mean length over the live base rows and the delta (a dead row's postings are subtracted);
- dense search is the base's (its ANN index, skipping dead rows, or every base vector) and every
  delta vector, merged by score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..lexical import summed

DELTA = "delta"  # the delta's folder inside the index folder
DEAD = "dead_rows.npy"  # base rows no longer in the corpus, ascending (int64)
DEAD_DF = "dead_df.npy"  # per base term: how many of its postings are dead rows (int64)


@dataclass
class Delta:
    """A loaded delta: its own segment (an Index of its passages), the dead base rows, the rebuild order."""

    segment: object  # index.Index of the delta's passages
    alive: np.ndarray  # bool per base row
    position: np.ndarray  # global row (base rows, then the delta's) → its row in a rebuild, -1 when dead
    order: np.ndarray  # a rebuild's row → global row
    bm25: "SegmentedBM25"

    @property
    def base_count(self) -> int:
        return len(self.alive)


def load_delta(index_dir: Path, manifest: dict, base, load_segment) -> Delta:
    """The delta of the index at `index_dir` (`base`: its base, loaded; `load_segment`: index's loader
    of one folder of index files)."""
    record = manifest["delta"]
    segment = load_segment(Path(index_dir) / DELTA, manifest, int(record["passage_count"]))
    base_count = len(base.passages)
    dead = np.load(Path(index_dir) / DELTA / DEAD, allow_pickle=False)
    dead_df = np.load(Path(index_dir) / DELTA / DEAD_DF, allow_pickle=False)
    if dead.ndim != 1 or (len(dead) and (dead[0] < 0 or dead[-1] >= base_count)) or len(dead_df) != len(base.bm25.vocab):
        raise ValueError("the delta's dead rows do not match its base")
    alive = np.ones(base_count, dtype=bool)
    alive[dead] = False
    order = rebuild_order(manifest["files"], base_count)
    if len(order) != manifest["passage_count"] or len(order) != base_count - len(dead) + len(segment.passages):
        raise ValueError("the delta's passages do not match the manifest")
    position = np.full(base_count + len(segment.passages), -1, dtype=np.int64)
    position[order] = np.arange(len(order))
    if np.any(position[:base_count][alive] < 0) or np.any(position[base_count:] < 0):
        raise ValueError("the manifest does not place every live passage")
    bm25 = SegmentedBM25(base.bm25, segment.bm25, alive, dead_df, int(record["length_sum"]), position)
    return Delta(segment, alive, position, order, bm25)


def rebuild_order(files: list[dict], base_count: int) -> np.ndarray:
    """The global rows (base rows, then the delta's after `base_count`) in a rebuild's order: each
    file's passages, file by file, where its record places them (`segment`, `row`)."""
    runs = []
    for record in files:
        count = int(record.get("passages", 0))
        if count:
            start = int(record["row"]) + (base_count if record.get("segment") == DELTA else 0)
            runs.append(np.arange(start, start + count, dtype=np.int64))
    return np.concatenate(runs) if runs else np.zeros(0, dtype=np.int64)


class SegmentedBM25:
    """BM25 over the live base rows and the delta, weighed with the statistics of the corpus they
    make together (as lexical.BM25Scores weighs one index); rows are a rebuild's (`position`)."""

    def __init__(self, base, delta, alive: np.ndarray, dead_df: np.ndarray, length_sum: int,
                 position: np.ndarray) -> None:
        self.base, self.delta, self.alive, self.dead_df = base, delta, alive, dead_df
        self.position = position
        self.analyzer, self.stem = base.analyzer, base.stem
        self.num_docs = int(alive.sum()) + delta.num_docs
        # the mean of whole numbers: the same float as a rebuild's np.mean over its lengths
        self.avgdl = length_sum / self.num_docs if self.num_docs else 1.0

    def _df(self, term: str) -> int:
        df = 0
        if term in self.base.vocab:
            t = self.base.vocab[term]
            df += int(self.base.starts[t + 1] - self.base.starts[t]) - int(self.dead_df[t])
        if term in self.delta.vocab:
            t = self.delta.vocab[term]
            df += int(self.delta.starts[t + 1] - self.delta.starts[t])
        return df

    def terms(self, question: str) -> list[str]:
        return [t for t in self.analyzer(question) if self._df(t) > 0]

    def knows(self, word: str) -> bool:
        return all(self._df(t) > 0 for t in self.analyzer(word))

    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The live passages holding `term` (rebuild rows) and its weight in each."""
        df, found = self._df(term), []
        for scores, offset in ((self.base, 0), (self.delta, len(self.alive))):
            if term not in scores.vocab:
                continue
            rows, weights = scores.weighed(scores.vocab[term], df, self.num_docs, self.avgdl)
            if offset == 0:
                live = self.alive[rows]
                rows, weights = rows[live], weights[live]
            found.append((self.position[rows + offset], weights))
        positions = np.concatenate([p for p, _ in found])
        weights = np.concatenate([w for _, w in found])
        order = np.argsort(positions, kind="stable")  # as a rebuild lists them: by row
        return positions[order], weights[order]

    def sparse(self, question: str) -> tuple[np.ndarray, np.ndarray]:
        """As BM25Scores.sparse, over the rebuild's rows."""
        return summed([self._postings(t) for t in self.terms(question)])
