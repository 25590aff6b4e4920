"""The model exported to ONNX once (with torch), cached by a fingerprint of its folder, and kept beside each index."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Callable

from ..cache import cache_dir
from ..errors import QAError
from ..ingest.files import file_sha256
from .models import ModelSpec

ONNX_FILE = "model.onnx"  # the name inside an index folder (fp32 or int8, as its manifest record says)
INT8_FILE = "model.int8.onnx"  # the int8 copy's name in the cache
EXPORT_VERSION = 1  # part of the cache key: bump it when export_onnx changes what it writes
INPUTS = ("input_ids", "attention_mask", "token_type_ids")

Warn = Callable[[str], None]


def stderr_warn(message: str) -> None:
    print(f"qa: {message}", file=sys.stderr)


def model_key(model_path: str | Path) -> str:
    """A cheap fingerprint of a model folder (names, sizes and mtimes of its files): the cache key."""
    root = Path(model_path)
    digest = hashlib.sha256(f"qa-onnx-export-{EXPORT_VERSION}\n".encode())
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"{file.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def is_sentence_transformers_folder(path: str | Path) -> bool:
    return (Path(path) / "tokenizer.json").is_file() and (Path(path) / "config.json").is_file()


def export_onnx(model_path: str | Path, out_path: str | Path, int8_path: str | Path | None = None) -> Path:
    """Export the transformer of the sentence-transformers folder `model_path` to ONNX at `out_path`.

    The graph takes input_ids, attention_mask (and token_type_ids when the model has them) with dynamic
    batch and sequence axes and returns the token embeddings; pooling is done in numpy. `int8_path`
    also writes a dynamically int8-quantized copy (per-channel weights: msmarco-5k nDCG@10 0.794 against
    0.798 for fp32, where per-tensor gave 0.790). This is the only place torch is imported.
    """
    import torch
    from transformers import AutoModel

    model_path, out_path = Path(model_path), Path(out_path)
    transformer = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()
    uses_types = getattr(transformer.config, "type_vocab_size", 0) > 0
    names = list(INPUTS if uses_types else INPUTS[:2])

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs))).last_hidden_state

    example = tuple(torch.ones(2, 16, dtype=torch.long) for _ in names)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-export-", dir=out_path.parent))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:  # the TorchScript exporter: seconds, where dynamo takes several times longer
                torch.onnx.export(
                    TokenEmbeddings(transformer), example, str(tmp / "fp32.onnx"), dynamo=False,
                    input_names=names, output_names=["token_embeddings"], opset_version=17,
                    dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "token_embeddings"]},
                )
            except Exception:  # a torch without it: the dynamo exporter (needs onnxscript)
                batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=4096)
                torch.onnx.export(
                    TokenEmbeddings(transformer), example, str(tmp / "fp32.onnx"), dynamo=True,
                    external_data=False, input_names=names, output_names=["token_embeddings"],
                    dynamic_shapes=[{0: batch, 1: seq} for _ in names],
                )
        if int8_path is not None:
            quantize_onnx(tmp / "fp32.onnx", int8_path)
        os.replace(tmp / "fp32.onnx", out_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_path


def quantize_onnx(fp32_path: str | Path, int8_path: str | Path) -> Path:
    """A dynamically int8-quantized copy of an fp32 export (onnxruntime only, no torch)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8_path = Path(int8_path)
    tmp = int8_path.with_name(f".{int8_path.name}.{os.getpid()}.tmp")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.setLevel(logging.ERROR)  # its "preprocess first" nag (logging.warning) would configure logging
    try:
        quantize_dynamic(str(fp32_path), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        os.replace(tmp, int8_path)
    finally:
        tmp.unlink(missing_ok=True)
        root.handlers[:], root.level = handlers, level
    return int8_path


def ensure_onnx(spec: ModelSpec, int8: bool = False, warn: Warn | None = None) -> tuple[Path, str]:
    """The cached ONNX export of `spec` (exported on first use) and its sha256."""
    if not is_sentence_transformers_folder(spec.path):
        raise QAError(f"model {spec.name!r} is not a local sentence-transformers folder")
    folder = cache_dir() / "onnx" / model_key(spec.path)
    path = folder / (INT8_FILE if int8 else ONNX_FILE)
    sidecar = path.with_name(path.name + ".sha256")
    if path.is_file() and sidecar.is_file() and checked_sha256(path) != sidecar.read_text().strip():
        # indexes may hold hard links to this file (place_file): damaged bytes must never be kept again
        (warn or stderr_warn)(f"the cached ONNX export {path} is damaged; exporting it again")
        path.unlink()
    if not (path.is_file() and sidecar.is_file()):
        if int8 and (folder / ONNX_FILE).is_file():
            quantize_onnx(folder / ONNX_FILE, path)
        else:
            (warn or stderr_warn)(f"exporting {spec.name} to ONNX once (kept in {folder})")
            export_onnx(spec.path, folder / ONNX_FILE, int8_path=path if int8 else None)
        for made in (folder / ONNX_FILE, folder / INT8_FILE):
            if made.is_file():
                made.with_name(made.name + ".sha256").write_text(file_sha256(made) + "\n")
    return path, sidecar.read_text().strip()


_CHECKED: dict[tuple, str] = {}  # (device, inode, size, mtime, ctime) → SHA-256, of files hashed by this process


def checked_sha256(path: Path) -> str:
    """The SHA-256 of the file at `path`, hashed once per process while its stat stays the same (a
    write changes its ctime, which no tool sets back): a build checks the model at load and again
    before it keeps a link to it (0.1 s each for 90 MB)."""
    info = os.stat(path)
    key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    if key not in _CHECKED:
        _CHECKED[key] = file_sha256(path)
    return _CHECKED[key]


def place_file(source: Path, target: Path) -> None:
    """`source` at `target`: a hard link where both are on one filesystem (an index then costs no disk
    for its 90 MB model), else a copy. A link means that damage to one is damage to all; every load
    and every build checks the model's SHA-256, so damaged bytes are refused, never used."""
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or one without hard links
        shutil.copyfile(source, target)
