"""What each node of a Ray build did: files and passages read, texts embedded, and its throughput."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

REPORT_SECONDS = 5.0  # a progress line per node at most this often while embedding


@dataclass
class NodeWork:
    files: int = 0
    passages: int = 0
    read_seconds: float = 0.0  # summed over the node's tasks
    texts: int = 0
    embed_seconds: float = 0.0  # summed over the node's actors' calls
    workers: int = 0


class NodeTally:
    """Per-node counts, said through `warn` (`qa: ...` lines on stderr) as the build goes."""

    def __init__(self, names: dict[str, str], warn=None, every: float = REPORT_SECONDS) -> None:
        self.names, self._warn, self._every = names, warn, every
        self.nodes: dict[str, NodeWork] = defaultdict(NodeWork)
        self.read_wall = 0.0
        self._embed_started: float | None = None
        self._last = time.monotonic()

    def name(self, node: str) -> str:
        return self.names.get(node, node[:6])

    def read(self, node: str, files: int, passages: int, seconds: float) -> None:
        work = self.nodes[node]
        work.files, work.passages, work.read_seconds = work.files + files, work.passages + passages, \
            work.read_seconds + seconds

    def read_done(self, wall: float) -> None:
        self.read_wall = wall
        reading = [(n, w) for n, w in sorted(self.nodes.items()) if w.files]
        files = sum(w.files for _, w in reading)
        self._say(f"read {files:,} file(s) into {sum(w.passages for _, w in reading):,} passages on "
                  f"{len(reading)} node(s) in {wall:.1f} s: " +
                  "; ".join(f"{self.name(n)} {w.files:,} files, {w.passages:,} passages" for n, w in reading))

    def worker(self, node: str) -> None:
        self.nodes[node].workers += 1

    def embedded(self, node: str, texts: int, seconds: float) -> None:
        if self._embed_started is None:
            self._embed_started = time.monotonic() - seconds
        work = self.nodes[node]
        work.texts, work.embed_seconds = work.texts + texts, work.embed_seconds + seconds
        if time.monotonic() - self._last >= self._every:
            self._last = time.monotonic()
            self._say("embedding: " + self.rates())

    def rates(self) -> str:
        """Each embedding node's texts and texts per second (of its wall time since embedding began)."""
        wall = max(time.monotonic() - self._embed_started, 1e-9) if self._embed_started is not None else 0.0
        parts = [f"{self.name(n)} ({w.workers} worker(s)) {w.texts:,} texts, {w.texts / wall if wall else 0:,.0f}/s"
                 for n, w in sorted(self.nodes.items()) if w.texts or w.workers]
        return "; ".join(parts)

    def finish(self) -> None:
        if self._embed_started is not None:
            self._say("embedded on the cluster: " + self.rates())

    def as_dict(self) -> dict[str, dict]:
        return {self.name(n): vars(w).copy() for n, w in self.nodes.items()}

    def _say(self, message: str) -> None:
        if self._warn:
            self._warn(message)
