"""Embedding: models that turn texts into normalized vectors (ONNX Runtime, OpenVINO, sentence-transformers).

This layer is told where a model file is (`kept`: the ONNX file an index keeps); it never reads an index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..config import environment
from ..errors import QAError, one_of
from .device import cuda_failure
from .models import Embedder, ModelSpec, SentenceTransformerEmbedder, resolve_model

BACKEND_ENV = "QA_BACKEND"
# onnx: questions on ONNX Runtime fp32, indexing on OpenVINO (bf16 where the CPU has it) when installed;
# onnx-fp32: ONNX Runtime fp32 for both; onnx-int8: the int8 model for both; torch: sentence-transformers.
BACKENDS = ("onnx", "onnx-fp32", "onnx-int8", "torch")


def load_embedder(model: str | None = None, kept: tuple[Path, dict] | None = None,
                  warn: Callable[[str], None] | None = None, lazy: bool = False,
                  backend: str | None = None, device: str = "cpu", threads: int | None = None) -> Embedder:
    """The encoder for `model` (see `resolve_model`): ONNX Runtime unless `backend` (None: $QA_BACKEND,
    read in config.py) is torch.

    With `kept` (an index's ONNX file and its manifest record, `store.local.index.kept_onnx`), that model is
    used, so asking never imports torch (see onnx.py); without ONNX Runtime or an export,
    sentence-transformers on torch is. `lazy` loads the ONNX model's session on the first encode
    (`qa index`: an update with nothing new to embed never needs it). `device` is "cpu" or "cuda"
    (`device.select_device` turns `--device` into one), `threads` the cores it may use (default: all
    this process may run on).
    """
    spec = resolve_model(model)
    backend = one_of((backend or environment("backend") or "onnx").strip().lower(), BACKENDS, f"${BACKEND_ENV}")
    if backend != "torch":
        from .onnx import load_onnx_embedder

        embedder = load_onnx_embedder(spec, kept=kept, int8=backend == "onnx-int8", warn=warn,
                                      bulk="openvino" if backend == "onnx" else "onnxruntime", lazy=lazy,
                                      device=device, threads=threads)
        if embedder is not None:
            return embedder
    if device == "cuda":  # the torch fallback is the CPU build (pyproject.toml): no GPU there
        raise QAError(cuda_failure(f"the model would run on sentence-transformers' CPU torch here "
                                   f"($QA_BACKEND={backend}, or no ONNX export of it)"))
    return SentenceTransformerEmbedder(spec)


__all__ = ["Embedder", "ModelSpec", "SentenceTransformerEmbedder", "load_embedder", "resolve_model"]
