"""`qa index --ray ADDRESS`: the local build with its reading and embedding spread over a Ray cluster.

What runs where: the driver (this process) lists the files, plans the build (which documents are
unchanged, which texts the index or an unfinished build already embedded) and writes every index
file through the local build's code (store/corpus.py, store/build.py), so the index equals a local build's; Ray
tasks read and cut the new files (reading.py); a pool of actors embeds the new texts (embedding.py).
Ray is imported only here, and only when `--ray` is given.
"""

from __future__ import annotations

import contextlib
from pathlib import Path


def build_on_cluster(sources: list[Path], index_dir: Path, address: str, model: str | None = None,
                     device: str = "auto", reuse: bool = True, warn=None, progress=None, backend: str | None = None):
    """`store.local.build.build_index` with reading and embedding on the Ray cluster at `address` (see
    `on_cluster`). Returns the index and what each node did (`NodeTally.as_dict`)."""
    from ..store.local.build import build_index

    with on_cluster(address, model, device, backend, warn) as (embedder, reader, tally):
        index = build_index(sources, index_dir, embedder, warn=warn, progress=progress, reuse=reuse, reader=reader)
    return index, tally.as_dict()


@contextlib.contextmanager
def on_cluster(address: str, model: str | None = None, device: str = "auto", backend: str | None = None, warn=None):
    """The embedder (`RayEmbedder`), reader (`RayReader`) and tally of a build on the Ray cluster at
    `address` (`cluster.joined`), for `store.local.build.build_index` or `store.qdrant.sync.index_corpus`;
    `device` ("auto", "cpu", "cuda") is the actors': auto takes the cluster's GPUs when it has any."""
    from ..embed import load_embedder
    from ..embed.device import check_device, cuda_failure
    from ..errors import QAError
    from .cluster import joined, node_names
    from .embedding import RayEmbedder
    from .progress import NodeTally
    from .reading import RayReader

    device = check_device(device)
    with joined(address, warn) as ray:
        gpus = ray.cluster_resources().get("GPU", 0)
        if device == "cuda" and not gpus:
            raise QAError(cuda_failure(f"the Ray cluster at {address} has no GPU"))
        device = device if device != "auto" else "cuda" if gpus else "cpu"
        tally = NodeTally(node_names(ray), warn)
        # the driver's embedder: its model, dimension and ONNX file
        local = load_embedder(model, warn=warn, lazy=True, backend=backend)
        if not hasattr(local, "onnx_path"):
            raise QAError("--ray embeds with the ONNX model; $QA_BACKEND=torch (or a model without an ONNX "
                          "export) cannot run on the cluster")
        embedder = RayEmbedder(ray, local, tally, device)
        try:
            yield embedder, RayReader(ray, tally, warn), tally
        finally:
            embedder.close()
        tally.finish()
