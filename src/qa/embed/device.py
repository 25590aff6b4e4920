"""Where indexing runs the ONNX model: the CPU (OpenVINO or ONNX Runtime) or a CUDA GPU (onnxruntime-gpu).

`auto` takes the GPU only when ONNX Runtime offers its CUDA provider, which only the onnxruntime-gpu
package does: the plain onnxruntime wheel this project installs never lists it, so `auto` costs a
CPU-only machine one list lookup. Whether a GPU is really there is known only once a session is
made (ONNX Runtime then falls back to the CPU with a log line): `OnnxEmbedder` checks the session's
providers, and `cuda_failure` words what a user asked for and did not get.
"""

from __future__ import annotations

from ..errors import QAError

DEVICES = ("auto", "cpu", "cuda")
CUDA_PROVIDER = "CUDAExecutionProvider"


def check_device(device: str | None) -> str:
    """`device` as one of DEVICES (None: auto), else a QAError."""
    chosen = (device or "auto").strip().lower()
    if chosen not in DEVICES:
        raise QAError(f"--device must be one of {', '.join(DEVICES)}, not {device!r}")
    return chosen


def available_providers() -> list[str]:
    """ONNX Runtime's execution providers in this install (onnxruntime-gpu adds CUDA's)."""
    import onnxruntime

    return list(onnxruntime.get_available_providers())


def select_device(device: str | None, providers: list[str] | None = None) -> str:
    """"cpu" or "cuda" for the requested `device`: `cuda` when asked and the CUDA provider is installed
    (a QAError when it is not), `auto` the GPU when the provider is there, else the CPU.

    `providers` stands for `available_providers()` (tests give lists of their own)."""
    chosen = check_device(device)
    if chosen == "cpu":
        return "cpu"
    installed = CUDA_PROVIDER in (available_providers() if providers is None else providers)
    if installed:
        return "cuda"
    if chosen == "cuda":
        raise QAError(cuda_failure("ONNX Runtime here has no CUDA provider (install onnxruntime-gpu in place of "
                                   "onnxruntime, with CUDA 12 and cuDNN 9)"))
    return "cpu"


def cuda_failure(why: str) -> str:
    """The message for `--device cuda` that cannot be honoured."""
    return f"--device cuda cannot run: {why}; use --device cpu or auto"
