"""OpenVINO bulk encoding: the index's ONNX model run by OpenVINO, many batches in flight, for indexing."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np


def available() -> bool:
    """Whether OpenVINO is installed (found, not imported: importing it takes ~0.2 s here)."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def _precision_name(precision) -> str:
    return f"openvino {getattr(precision, 'get_type_name', lambda: str(precision))()}"


def predicted_name() -> str | None:
    """The name `OpenVinoBulk` would have, from the CPU device's default precision, without compiling
    (None when the device cannot say).

    Every update asks it (an index's vectors are reused only for the encoder that made them), and
    asking OpenVINO means importing it: 0.19 of a 100k-passage index's ~2 s update, measured here. The
    answer depends only on the CPU and the OpenVINO release, so it is kept in qa's cache under both
    (the CPU can change between runs of one machine image: its flags are part of the key).
    """
    key = _cache_key()
    cached = _read_cache().get(key) if key else None
    if cached:
        return cached
    import openvino as ov

    try:
        name = _precision_name(ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))
    except Exception:  # noqa: BLE001 - an OpenVINO without the property: compile and see
        return None
    if key:
        _remember(key, name)
    return name


_CACHE = "openvino-precision.json"


def _cache_key() -> str | None:
    """The OpenVINO release and a digest of the CPU's model and flags, or None where they are unknown."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            lines = sorted({line.strip() for line in cpuinfo if line.startswith(("model name", "flags"))})
        release = version("openvino")
    except (OSError, PackageNotFoundError):
        return None
    return f"{release} {hashlib.sha256(chr(10).join(lines).encode()).hexdigest()[:16]}" if lines else None


def _read_cache() -> dict:
    import json

    from ..cache import cache_dir

    try:
        cached = json.loads((cache_dir() / _CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


def _remember(key: str, name: str) -> None:
    """Keep `name` as the precision under `key` (written atomically, or not at all: a read-only cache
    only costs the import next time)."""
    import json

    from ..cache import cache_dir, write_quietly

    entries = _read_cache()
    if entries.get(key) != name:
        with contextlib.suppress(OSError):
            cache_dir().mkdir(parents=True, exist_ok=True)
        write_quietly(cache_dir() / _CACHE, json.dumps({**entries, key: name}))


class OpenVinoBulk:
    """The exported model compiled by OpenVINO in its throughput mode.

    Why a second runtime beside ONNX Runtime: on a CPU with bf16 matrix units (AMX or AVX512-BF16,
    as this machine has) OpenVINO runs the matrix products in bf16 by default; measured here it
    embeds passages 3-4x as fast as ONNX Runtime fp32, with cosines to the fp32 vectors of 0.9999
    and more. ONNX Runtime has no bf16 kernels on x86. Questions stay on ONNX Runtime fp32: one
    short batch gains nothing from OpenVINO (measured slower), and keeps the exact vectors.
    """

    def __init__(self, onnx_path: str | Path, threads: int | None = None) -> None:
        import openvino as ov

        core = ov.Core()
        config = {"PERFORMANCE_HINT": "THROUGHPUT"}
        if threads:  # a Ray actor's share of its node (scaleout/): OpenVINO would otherwise take every core
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self._compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU", config)
        precision = self._compiled.get_property("INFERENCE_PRECISION_HINT")  # bf16 with AMX, else f32
        self.name = _precision_name(precision)
        key = _cache_key()
        if key:  # what `predicted_name` says next time
            _remember(key, self.name)

    def run(self, feeds: Iterable[tuple[Any, dict[str, np.ndarray]]], done: Callable[[Any, np.ndarray], None]) -> None:
        """Run every (key, inputs) of `feeds`; `done(key, token_embeddings)` gets each output, from
        OpenVINO's threads, before its buffer is reused."""
        import openvino as ov

        queue = ov.AsyncInferQueue(self._compiled)
        failures: list[BaseException] = []

        def finished(request, key) -> None:
            try:
                done(key, request.get_output_tensor(0).data)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failures.append(exc)

        queue.set_callback(finished)
        for key, inputs in feeds:
            if failures:
                break
            queue.start_async(inputs, key)
        queue.wait_all()
        if failures:
            raise failures[0]
