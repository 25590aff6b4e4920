"""Embedding on a Ray cluster: a pool of actors, each holding the index's ONNX model, fed length-sorted batches.

`RayEmbedder` stands where the local build takes an embedder: the build calls `encode_passages` for
each chunk of new texts (store/build_rows.py) and keeps the vectors in its resumable staging
(`.<index>.partial/`) as each chunk returns, so everything else (which texts are new, the row order,
the files) is the local build's own. An actor killed mid-batch is restarted by Ray and the batch run
again (`max_restarts`, `max_task_retries`): the build loses no passage, it waits for a model to load.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import QAError
from .cluster import failure
from .progress import NodeTally

BATCH_TEXTS = 128  # texts an actor takes at a time: many per chunk (load balance), each long enough to batch well
IN_FLIGHT = 2  # batches queued per actor, so it never waits for the driver between two
BATCHES_PER_WORKER = 8  # per chunk the build hands over: the wait for the last batch is ~1/8 of a chunk
RESTARTS = 4  # an actor that dies (a killed process, a lost node) is made again this often, its batch retried
POOL_START_SECONDS = 300.0  # for the actors to load the model; a cluster whose CPUs are all taken never starts them


class EmbeddingWorker:
    """One actor: the ONNX model on `threads` cores of its node (or its GPU), embedding batches of texts."""

    def __init__(self, model: str, onnx: dict, bulk: str, device: str, threads: int) -> None:
        import ray

        from ..embed.models import resolve_model
        from ..embed.onnx import OnnxEmbedder

        path = _local_model(onnx)
        self._embedder = OnnxEmbedder(resolve_model(model), path, sha256=onnx["sha256"], quantized=onnx["quantized"],
                                      bulk=bulk, device=device, threads=threads)
        self._node = ray.get_runtime_context().get_node_id()

    def describe(self) -> tuple[str, str, int]:
        """The node, the encoder's name (bf16 or f32: must be the driver's), the dimension."""
        return self._node, self._embedder.passage_encoder, self._embedder.dimension

    def encode(self, texts: list[str]) -> tuple[np.ndarray, str, float]:
        started = time.perf_counter()
        vectors = self._embedder.encode_passages(texts, part=True)
        return vectors, self._node, time.perf_counter() - started


class ModelHolder:
    """An actor holding the driver's ONNX file, for nodes that lack it. Why not an object reference
    (or this actor's handle) passed to each worker: Ray warns that a restartable actor's arguments held
    in the object store may be gone when it restarts; this one is found by its name, its bytes fetched
    by a method call each time."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def data(self) -> bytes:
        return self._data


def _holder_name(sha256: str) -> str:
    return f"qa-onnx-{sha256[:24]}"


def _local_model(onnx: dict) -> Path:
    """The driver's ONNX file where this node has the same one, else a copy fetched from its
    `ModelHolder` into this node's qa cache."""
    from ..cache import cache_dir
    from ..embed.onnx_export import checked_sha256

    own = Path(onnx["path"])
    if own.is_file() and own.stat().st_size == onnx["size"] and checked_sha256(own) == onnx["sha256"]:
        return own
    import ray

    copy = cache_dir() / "ray" / f"{onnx['sha256']}.onnx"
    if not copy.is_file() or checked_sha256(copy) != onnx["sha256"]:
        copy.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=copy.parent, prefix=".model.", delete=False) as out:
            out.write(ray.get(ray.get_actor(_holder_name(onnx["sha256"])).data.remote()))
        os.replace(out.name, copy)
    return copy


def _groups(batches: list[np.ndarray], size: int) -> list[np.ndarray]:
    """Consecutive `batches` joined into groups of at least `size` rows (the last may be smaller)."""
    groups, group = [], []
    for rows in batches:
        group.append(rows)
        if sum(len(r) for r in group) >= size:
            groups.append(np.concatenate(group))
            group = []
    if group:
        groups.append(np.concatenate(group))
    return groups


class RayEmbedder:
    """The driver's embedder (`local`: its model, dimension and encoder name; questions stay on it)
    with bulk embedding spread over a pool of actors on the cluster `ray` is joined to: one per CPU
    (each on one core), or one per GPU with `device` "cuda". The pool starts at the first bulk encode
    (an update with nothing new to embed never starts it) and ends with `close`."""

    def __init__(self, ray, local, tally: NodeTally, device: str = "cpu") -> None:
        self.model = local.model
        self._ray, self._local, self._tally, self._device = ray, local, tally, device
        self._actors: list = []
        self.workers = 0
        # texts the build hands over at a time (store/build_rows.py: at least its 2,048): enough that every
        # worker gets several batches before the chunk's last one is waited for
        slots = ray.cluster_resources().get("GPU" if device == "cuda" else "CPU", 1)
        self.chunk_texts = int(slots * BATCHES_PER_WORKER * BATCH_TEXTS)

    @property
    def dimension(self) -> int:
        return self._local.dimension

    @property
    def passage_encoder(self) -> str:
        """What the actors embed with; every actor is checked to be it when the pool starts."""
        if self._device == "cuda":
            return f"onnxruntime cuda {'int8' if self._local.quantized else 'fp32'}"
        return self._local.passage_encoder

    def encode(self, texts: list[str], progress=None) -> np.ndarray:
        return self._local.encode(texts, progress)

    def encode_passages(self, texts: list[str], progress=None) -> np.ndarray:
        """The texts' vectors, in order, from the pool: the local embedder's own batches (longest
        first), whole batches to a worker, about BATCH_TEXTS texts at a time, so each vector is the one
        a local build computes (a text's bf16 vector depends on the texts padded with it)."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        ray, actors = self._ray, self._pool()
        batches = iter(_groups(self._local.batches(texts), BATCH_TEXTS))
        pending: dict = {}

        def submit(actor) -> None:
            rows = next(batches, None)
            if rows is not None:
                pending[actor.encode.remote([texts[i] for i in rows])] = (rows, actor)

        for actor in actors:
            for _ in range(IN_FLIGHT):
                submit(actor)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            rows, actor = pending.pop(ready[0])
            try:
                vectors, node, seconds = ray.get(ready[0])
            except ray.exceptions.RayError as exc:  # restarts spent, or the actor's code failed
                raise failure("embedding", exc) from None
            out[rows] = vectors
            self._tally.embedded(node, len(rows), seconds)
            if progress:
                progress(len(rows))
            submit(actor)
        return out

    def _pool(self) -> list:
        if self._actors:
            return self._actors
        ray, local = self._ray, self._local
        gpu = self._device == "cuda"
        # one actor per CPU (GPU) of the cluster; those not placed within POOL_START_SECONDS (CPUs other
        # jobs hold) are given up. Not `available_resources`: right after the read tasks it still
        # counted their CPUs as taken here (one actor of two was made)
        count = int(ray.cluster_resources().get("GPU" if gpu else "CPU", 0))
        if count < 1:
            raise QAError("--device cuda: the Ray cluster has no GPU" if gpu else "the Ray cluster has no CPU")
        onnx = {"path": str(local.onnx_path), "sha256": local.sha256, "size": Path(local.onnx_path).stat().st_size,
                "quantized": local.quantized}
        holder = ray.remote(num_cpus=0)(ModelHolder).options(name=_holder_name(local.sha256), get_if_exists=True) \
            .remote(Path(local.onnx_path).read_bytes())
        worker = ray.remote(num_cpus=1, num_gpus=1 if gpu else 0, max_restarts=RESTARTS,
                            max_task_retries=RESTARTS)(EmbeddingWorker)
        bulk = "onnxruntime" if gpu else getattr(local, "_bulk", "openvino")
        actors = [worker.remote(local.model, onnx, bulk, self._device, 1) for _ in range(count)]
        self._actors, self._holder = actors, holder  # ended by `close`, whatever happens next
        asked = {a.describe.remote(): a for a in actors}
        started, _ = ray.wait(list(asked), num_returns=len(asked), timeout=POOL_START_SECONDS)
        if not started:
            raise QAError(f"the Ray cluster started no embedding worker within {POOL_START_SECONDS:.0f} s "
                          "(are its CPUs taken by other jobs?)")
        for ref in set(asked) - set(started):  # not placed: the pool goes on without them
            ray.kill(asked[ref])
        actors = [asked[ref] for ref in started]
        self._actors = actors
        try:
            described = ray.get(started)
        except ray.exceptions.RayError as exc:
            raise failure("loading the model", exc) from None
        for node, encoder, dimension in described:
            if encoder != self.passage_encoder or dimension != self.dimension:
                raise QAError(f"node {self._tally.name(node)} embeds with {encoder} ({dimension}-d) where this "
                              f"machine would use {self.passage_encoder}: an index records one encoder, so build "
                              "on nodes of one kind (or from one of them)")
            self._tally.worker(node)
        self.workers = len(actors)
        return actors

    def close(self) -> None:
        for actor in [*self._actors, *([self._holder] if self._actors else [])]:
            self._ray.kill(actor)
        self._actors = []
