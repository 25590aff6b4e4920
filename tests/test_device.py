"""`--device auto|cpu|cuda`: which device embeds, and a clean error when CUDA is asked for and absent.

Run on a CPU-only machine: the GPU path is tested for its choice and its errors, not for its vectors.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from qa.cli import app
from qa.embed.device import CUDA_PROVIDER, select_device
from qa.errors import QAError

CPU_ONLY = ["CPUExecutionProvider"]
WITH_GPU = ["TensorrtExecutionProvider", CUDA_PROVIDER, "CPUExecutionProvider"]


@pytest.mark.parametrize("asked, providers, chosen", [
    ("cpu", WITH_GPU, "cpu"), ("cpu", CPU_ONLY, "cpu"),
    ("auto", WITH_GPU, "cuda"), ("auto", CPU_ONLY, "cpu"), (None, CPU_ONLY, "cpu"), (" AUTO ", WITH_GPU, "cuda"),
    ("cuda", WITH_GPU, "cuda"),
])
def test_the_device_chosen(asked, providers, chosen):
    assert select_device(asked, providers) == chosen


def test_cuda_asked_without_the_cuda_provider_or_an_unknown_device_is_refused():
    with pytest.raises(QAError, match="--device cuda cannot run: ONNX Runtime here has no CUDA provider"):
        select_device("cuda", CPU_ONLY)
    with pytest.raises(QAError, match="--device must be one of auto, cpu, cuda, not 'tpu'"):
        select_device("tpu", WITH_GPU)


def test_this_install_has_no_cuda_provider_so_auto_is_the_cpu():
    import onnxruntime

    if CUDA_PROVIDER in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    assert select_device("auto") == "cpu"


@pytest.mark.parametrize("device, says", [
    ("cuda", "Error: --device cuda cannot run: ONNX Runtime here has no CUDA provider"),
    ("gpu", "Error: --device must be one of auto, cpu, cuda, not 'gpu'"),
])
def test_qa_index_device_refused_is_one_error_line_before_anything_is_written(tmp_path, seed_corpus, device, says):
    import onnxruntime

    if device == "cuda" and CUDA_PROVIDER in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    result = CliRunner().invoke(app, ["index", str(seed_corpus), "--index-dir", str(tmp_path / "index"),
                                      "--device", device])
    assert result.exit_code == 2
    assert result.output.splitlines() == [result.output.strip()] and result.output.startswith(says)
    assert not (tmp_path / "index").exists()


def test_a_session_that_falls_back_to_the_cpu_is_refused_for_cuda():
    """ONNX Runtime without a usable GPU makes a CPU session when asked for CUDA; the embedder says so."""
    from qa.embed.models import resolve_model
    from qa.embed.onnx_export import ensure_onnx
    from qa.embed.onnx import OnnxEmbedder

    spec = resolve_model()
    path, digest = ensure_onnx(spec)
    embedder = OnnxEmbedder(spec, path, sha256=digest, device="cuda", lazy=True)
    assert embedder.passage_encoder == "onnxruntime cuda fp32"  # never OpenVINO on a GPU
    with pytest.raises(QAError, match="--device cuda cannot run: ONNX Runtime could not open the GPU"):
        embedder.encode(["a question"])


def test_device_cpu_builds_as_before(tmp_path, seed_corpus, seed_index_dir):
    import json

    result = CliRunner().invoke(app, ["index", str(seed_corpus), "--index-dir", str(tmp_path / "index"),
                                      "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    built = json.loads((tmp_path / "index" / "manifest.json").read_text())
    before = json.loads((seed_index_dir / "manifest.json").read_text())
    assert built["passage_encoder"] == before["passage_encoder"] and built["passage_count"] == before["passage_count"]


def test_cuda_with_the_torch_backend_is_refused(monkeypatch):
    from qa.embed import load_embedder

    monkeypatch.setenv("QA_BACKEND", "torch")
    with pytest.raises(QAError, match="--device cuda cannot run: the model would run on sentence-transformers"):
        load_embedder(device="cuda")
