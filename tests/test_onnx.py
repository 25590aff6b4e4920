"""The ONNX Runtime embedder: same vectors as sentence-transformers, kept in the index, no torch to ask."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from qa.errors import QAError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def varied_texts(n: int = 200) -> list[str]:
    """Short, long (past the 256-token limit), unicode, punctuation and number-heavy texts."""
    seed = open(os.path.join(ROOT, "corpus", "north-korea-diplomacy.txt"), encoding="utf-8").read()
    sentences = [s.strip() for s in seed.replace("\n", " ").split(". ") if len(s.strip()) > 20]
    special = [
        "", " ", "a", "Hi!", "???", "North Korea", "  padded with spaces  ", "tab\tand\nnewline",
        "Café naïve façade — “quoted” ‘text’ … déjà vu", "日本語のテキストと中文文本", "Привет, как дела?",
        "مرحبا بالعالم", "emoji 🎉🚀👍🏽 test", "Ω≈ç√∫˜µ≤≥÷", "3.14159 2,718 1e-9 -42 +7 0x1F 1/2 50%",
        "Call +1 (555) 012-3456 or e-mail qa@example.org; cost: $1,234.56 (≈ €1.1k).",
        "C++ / C# / F# -- foo_bar.baz() => [1, 2, 3] {\"k\": null}", "!!!...,,,;;;:::---___", "ÀÉÎÕÜ ÿ ß æ ø å",
    ]
    texts = list(special)
    for i in range(25):  # long: several hundred words, so truncation at 256 tokens matters
        start = (i * 7) % max(len(sentences) - 40, 1)
        texts.append(". ".join(sentences[start : start + 30 + i]) + f" ({i})")
    i = 0
    while len(texts) < n:
        s = sentences[i % len(sentences)]
        variant = i // len(sentences)
        texts.append(s if variant == 0 else s.upper() if variant == 1 else f"{i}: {s[: 40 + i % 60]}?")
        i += 1
    return texts[:n]


@pytest.fixture(scope="session")
def onnx_embedder():
    """An OnnxEmbedder on the cached fp32 export of the bundled model (exported once if need be)."""
    from qa.embed.models import resolve_model
    from qa.embed.onnx import OnnxEmbedder
    from qa.embed.onnx_export import ensure_onnx

    spec = resolve_model()
    path, digest = ensure_onnx(spec)
    return OnnxEmbedder(spec, path, sha256=digest)


def test_onnx_matches_sentence_transformers(onnx_embedder):
    from qa.embed.models import SentenceTransformerEmbedder, resolve_model

    reference = SentenceTransformerEmbedder(resolve_model())
    texts = varied_texts(200)
    assert sum(len(t.split()) > 300 for t in texts) >= 20
    expected = reference.encode(texts)
    got = onnx_embedder.encode(texts)
    assert got.shape == expected.shape == (200, reference.dimension) and got.dtype == np.float32
    assert reference.model == onnx_embedder.model and reference.dimension == onnx_embedder.dimension
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = (got * expected).sum(axis=1)
    assert cosines.min() >= 0.999, [texts[i][:60] for i in np.argsort(cosines)[:3]]


def test_every_encoding_path_matches_sentence_transformers(onnx_embedder):
    """Questions (ONNX Runtime fp32, one at a time or many), passages by default (OpenVINO, bf16 on
    this machine) and passages with QA_BACKEND=onnx-fp32 (one ONNX Runtime session per core)."""
    from qa.embed.models import SentenceTransformerEmbedder, resolve_model
    from qa.embed.onnx import OnnxEmbedder

    spec = resolve_model()
    texts = varied_texts(80)
    expected = SentenceTransformerEmbedder(spec).encode(texts)
    fp32_bulk = OnnxEmbedder(spec, onnx_embedder.onnx_path, bulk="onnxruntime")
    assert fp32_bulk.passage_encoder == "onnxruntime fp32"
    assert onnx_embedder.passage_encoder.startswith("openvino ")
    paths = {"one text a call": np.vstack([onnx_embedder.encode([t]) for t in texts]),
             "questions in bulk": onnx_embedder.encode(texts),
             "default passages": onnx_embedder.encode_passages(texts),
             "onnxruntime passages": fp32_bulk.encode_passages(texts)}
    for name, got in paths.items():
        cosines = (got * expected).sum(axis=1)
        assert cosines.min() >= 0.999, (name, [texts[i][:60] for i in np.argsort(cosines)[:3]])
    for name in ("one text a call", "questions in bulk", "onnxruntime passages"):  # ONNX Runtime fp32: exact
        assert np.abs((paths[name] * expected).sum(axis=1) - 1).max() < 1e-5, name


def test_encode_keeps_order_and_handles_empty(onnx_embedder):
    texts = ["short", "a much longer text " * 20, "medium length text here", "x"]
    vectors = onnx_embedder.encode(texts)
    reordered = onnx_embedder.encode(texts[::-1])
    np.testing.assert_allclose(vectors[::-1], reordered, atol=1e-5)
    assert onnx_embedder.encode([]).shape == (0, onnx_embedder.dimension)
    seen = []
    onnx_embedder.encode(texts * 20, progress=seen.append)
    assert sum(seen) == 80


def test_default_embedder_is_onnx_and_torch_is_the_fallback(monkeypatch):
    from qa.embed import SentenceTransformerEmbedder, load_embedder, resolve_model
    from qa.embed.onnx import OnnxEmbedder, load_onnx_embedder

    monkeypatch.delenv("QA_BACKEND", raising=False)
    assert isinstance(load_embedder(), OnnxEmbedder)
    monkeypatch.setenv("QA_BACKEND", "tpu")
    with pytest.raises(QAError, match="QA_BACKEND must be one of onnx, onnx-fp32, onnx-int8, torch"):
        load_embedder()
    monkeypatch.setenv("QA_BACKEND", "onnx-fp32")
    assert load_embedder().passage_encoder == "onnxruntime fp32"
    monkeypatch.setenv("QA_BACKEND", "torch")
    assert isinstance(load_embedder(), SentenceTransformerEmbedder)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    warnings = []
    assert load_onnx_embedder(resolve_model(), warn=warnings.append) is None
    assert "onnxruntime is not installed" in warnings[0]


def test_manifest_records_the_onnx_hash(seed_index_dir):
    from qa.ingest.files import file_sha256

    manifest = json.loads((seed_index_dir / "manifest.json").read_text())
    record = manifest["onnx"]
    path = seed_index_dir / record["file"]
    assert record["file"] == "model.onnx" and record["quantized"] is False
    assert record["sha256"] == file_sha256(path) and record["size"] == path.stat().st_size


def _run(code: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "QA_BACKEND"}
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          cwd=cwd or ROOT, timeout=120)


ASK_AND_REPORT = """
import json, sys
from qa.cli import app
try:
    app(["ask", sys.argv[2], "--json", "-k", "2", "--index-dir", sys.argv[1]])
except SystemExit as done:
    code = done.code
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers", "openvino") if m in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}), file=sys.stderr)
"""


def test_asking_never_imports_torch(seed_index_dir):
    done = _run(ASK_AND_REPORT, str(seed_index_dir), "Who is the protecting power for the US?")
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": []}, done.stderr
    answer = json.loads(done.stdout)
    assert len(answer["passages"]) == 2 and "Sweden" in " ".join(p["text"] for p in answer["passages"])


def test_missing_or_corrupt_onnx_is_a_clear_error(seed_index_dir, tmp_path):
    from qa.config import Settings
    from qa.wiring import open_retriever

    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)  # a real copy: the seed index must stay intact
    onnx = index_dir / "model.onnx"
    size = onnx.stat().st_size
    onnx.unlink()
    with pytest.raises(QAError, match=r"model\.onnx is missing.*qa index"):
        open_retriever(Settings(index_dir=index_dir), build_if_missing=True)
    onnx.write_bytes(b"\0not an onnx model\0" * (size // 19) + b"\0" * (size % 19))  # same size, garbage
    assert onnx.stat().st_size == size
    with pytest.raises(QAError, match=r"corrupt.*qa index"):
        open_retriever(Settings(index_dir=index_dir), build_if_missing=True)
    done = _run(ASK_AND_REPORT, str(index_dir), "who leads the talks?")
    assert "Traceback" not in done.stderr
    assert "Error: " in done.stderr and "corrupt" in done.stderr and '"code": 1' in done.stderr
    onnx.write_bytes(b"truncated")
    with pytest.raises(QAError, match=r"corrupt.*model\.onnx has the wrong size"):
        open_retriever(Settings(index_dir=index_dir), build_if_missing=True)


def test_indexes_share_the_model_file_and_a_damaged_one_is_never_kept(tmp_path, seed_corpus, embedder):
    """model.onnx is a hard link to the cached export (no 90 MB per index); damage to the shared bytes is
    refused by the next build instead of being recorded as good."""
    from qa.embed import resolve_model
    from qa.ingest.document import file_sha256
    from qa.store.folder import file_hash
    from qa.store.index import load_index
    from qa.store.build import build_index

    first = build_index([seed_corpus], tmp_path / "one", embedder)
    build_index([seed_corpus], tmp_path / "two", embedder)
    one, two = tmp_path / "one" / "model.onnx", tmp_path / "two" / "model.onnx"
    if one.stat().st_dev == embedder.onnx_path.stat().st_dev:  # else each index has its own copy
        assert one.stat().st_ino == two.stat().st_ino == embedder.onnx_path.stat().st_ino
    assert file_sha256(one) == first.manifest["onnx"]["sha256"]
    assert first.manifest["file_hashes"]["model.onnx"]["xxh3_128"] == file_hash(one)
    copy = tmp_path / "model-copy.onnx"
    shutil.copyfile(embedder.onnx_path, copy)
    damaged = type(embedder)(resolve_model(embedder.model), copy, sha256=embedder.sha256)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(QAError, match="is damaged .*run `qa index` again"):
        build_index([seed_corpus], tmp_path / "three", damaged)
    assert load_index(tmp_path / "one").passages == first.passages  # the others are untouched


def test_the_predicted_openvino_name_is_kept_per_cpu_and_corrected_by_a_compile(tmp_path, monkeypatch, embedder):
    """An update asks which encoder would embed its passages; after the first time no OpenVINO import."""
    from qa.embed import openvino_bulk

    if not openvino_bulk.available():
        pytest.skip("OpenVINO is not installed")
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path))
    name = openvino_bulk.predicted_name()
    assert name and name.startswith("openvino ")
    entries = json.loads((tmp_path / "openvino-precision.json").read_text())
    assert list(entries.values()) == [name]
    monkeypatch.setattr(openvino_bulk, "_precision_name", lambda precision: pytest.fail("asked OpenVINO again"))
    assert openvino_bulk.predicted_name() == name
    monkeypatch.undo()
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path))
    (tmp_path / "openvino-precision.json").write_text(json.dumps({key: "openvino wrong" for key in entries}))
    compiled = openvino_bulk.OpenVinoBulk(embedder.onnx_path)
    assert openvino_bulk.predicted_name() == compiled.name == name
