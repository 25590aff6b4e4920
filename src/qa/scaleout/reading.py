"""Reading and cutting the corpus files into passages as Ray tasks, each a run of files, results in listing order.

The driver lists the files (one directory walk: ~ms per thousand files, and the order every build
must keep) and decides which are new or changed; the tasks do what costs: parsing PDF, HTML and Word
files and splitting every text into passages (`store.corpus.read_and_split`, the local build's own).
The files must be at the same path on every node (a shared or copied folder). A task whose worker
dies is run again by Ray (`max_retries`); reading is pure, so a retry gives the same passages.
"""

from __future__ import annotations

import time
from pathlib import Path

from .cluster import failure
from .progress import NodeTally

TASKS_PER_CPU = 4  # a few tasks per core, so a slow PDF does not leave the other cores idle at the end
MAX_FILES_PER_TASK = 64
MAX_BYTES_PER_TASK = 8 << 20  # what one task sends its worker at most (a known document's text counts too)
RETRIES = 3


def _read_run(jobs: list[tuple[str, str, object]]) -> tuple[list, list[list[str]], str, float]:
    """One task: each job's (document, passages) or None, the warnings each job gave, the node, the seconds."""
    import ray

    from ..store.corpus import read_and_split

    started = time.perf_counter()
    results, warnings = [], []
    for file, name, known in jobs:
        said: list[str] = []
        results.append(read_and_split(Path(file), name, said.append, {name: known} if known is not None else {}))
        warnings.append(said)
    return results, warnings, ray.get_runtime_context().get_node_id(), time.perf_counter() - started


def runs_of(jobs: list, cpus: int) -> list[list]:
    """`jobs` cut into consecutive runs: about TASKS_PER_CPU runs per core, each of at most
    MAX_FILES_PER_TASK files and (unless one file is bigger) MAX_BYTES_PER_TASK bytes."""
    per_run = max(1, min(MAX_FILES_PER_TASK, -(-len(jobs) // max(1, cpus * TASKS_PER_CPU))))
    runs, run, size = [], [], 0
    for job in jobs:
        weight = _size(job)
        if run and (len(run) >= per_run or size + weight > MAX_BYTES_PER_TASK):
            runs.append(run)
            run, size = [], 0
        run.append(job)
        size += weight
    if run:
        runs.append(run)
    return runs


def _size(job) -> int:
    file, _, known = job
    try:
        return Path(file).stat().st_size + (len(known.text) if known is not None else 0)
    except OSError:
        return 0


class RayReader:
    """A `store.corpus.Reader` that reads on the cluster `ray` is joined to; `tally` counts each node's work."""

    def __init__(self, ray, tally: NodeTally, warn=None) -> None:
        self._ray, self._tally, self._warn = ray, tally, warn

    def __call__(self, wanted: list[tuple[Path, str, object]], warn=None) -> list:
        ray = self._ray
        warn = warn or self._warn
        if not wanted:
            return []
        task = ray.remote(num_cpus=1, max_retries=RETRIES)(_read_run)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        runs = runs_of([(str(file), name, known) for file, name, known in wanted], cpus)
        started = time.perf_counter()
        pending = {task.remote(run): number for number, run in enumerate(runs)}
        done: dict[int, tuple] = {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                number = pending.pop(ref)
                try:
                    results, warnings, node, seconds = ray.get(ref)
                except ray.exceptions.RayError as exc:  # retries spent, or a reader failed unexpectedly
                    raise failure("reading", exc) from None
                done[number] = (results, warnings)
                self._tally.read(node, len(results), sum(len(r[1]) for r in results if r is not None), seconds)
        out = []
        for number in range(len(runs)):  # warnings in listing order, as a local build gives them
            results, warnings = done[number]
            for said in warnings:
                for message in said:
                    if warn:
                        warn(message)
            out.extend(results)
        self._tally.read_done(time.perf_counter() - started)
        return out
