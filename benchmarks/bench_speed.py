"""Cold start and indexing speed of qa on ONNX Runtime, each beside a torch baseline from the same run.

Not a test: run it by hand on a quiet machine and read the table (medians over --runs runs).

    .venv/bin/python benchmarks/bench_speed.py                 # cold ask, serve ready, indexing throughput
    .venv/bin/python benchmarks/bench_speed.py --ndcg          # also msmarco-5k nDCG@10, fp32 vs int8 vs torch

(a) `qa ask` cold: process start to the printed answer, on an existing index (ONNX; needs no torch),
    beside `python -c "import sentence_transformers; load; encode"` and beside `QA_BACKEND=torch qa ask`.
(b) `qa serve`: process start to /health answering "ok", beside the same with QA_BACKEND=torch.
(c) indexing throughput in passages/s on the same texts: qa's default (OpenVINO, bf16 where the CPU has
    it), ONNX Runtime fp32 and int8, each beside sentence-transformers on torch fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MSMARCO = ROOT.parent / "shared" / "benchmarks" / "msmarco-5k"
QA = [sys.executable, "-m", "qa.cli"]
QUESTION = "Which country is the protecting power for the US in North Korea?"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
ENV.pop("QA_BACKEND", None)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def time_to_first_line(cmd: list[str], env: dict) -> float:
    """Seconds from starting `cmd` to the first line it prints on stdout (the answer, with --json)."""
    started = time.perf_counter()
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    line = process.stdout.readline()
    took = time.perf_counter() - started
    _, err = process.communicate(timeout=300)
    if process.returncode != 0 or not line.strip():
        raise RuntimeError(f"{' '.join(cmd)} failed ({process.returncode}): {err.decode(errors='replace')[-800:]}")
    return took


def bench_ask(index_dir: Path, runs: int) -> dict[str, list[float]]:
    from qa.embed.models import resolve_model

    model_path = resolve_model().path
    baseline = ("import sentence_transformers, sys; m = sentence_transformers.SentenceTransformer("
                f"{model_path!r}, device='cpu'); m.encode([{QUESTION!r}]); print('ok', flush=True)")
    ask = [*QA, "ask", QUESTION, "-k", "3", "--json", "--index-dir", str(index_dir)]
    out = {"qa ask (onnx)": [], "import sentence_transformers + load + encode": [], "qa ask (QA_BACKEND=torch)": []}
    time_to_first_line(ask, ENV)  # the page cache warm, as for any but the very first run after boot
    for _ in range(runs):  # interleaved, so load on the machine hits all alike
        out["qa ask (onnx)"].append(time_to_first_line(ask, ENV))
        out["import sentence_transformers + load + encode"].append(
            time_to_first_line([sys.executable, "-c", baseline], ENV))
        out["qa ask (QA_BACKEND=torch)"].append(time_to_first_line(ask, {**ENV, "QA_BACKEND": "torch"}))
    return out


def serve_available() -> bool:
    if not (ROOT / "src" / "qa" / "serve" / "app.py").exists():
        return False
    done = subprocess.run([*QA, "serve", "--help"], capture_output=True, env=ENV, cwd=ROOT)
    return done.returncode == 0


def time_to_ready(index_dir: Path, env: dict, timeout: float = 300) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    process = subprocess.Popen([*QA, "serve", "--host", "127.0.0.1", "--port", str(port), "--index-dir",
                                str(index_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=env, cwd=ROOT)
    try:
        while time.perf_counter() - started < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"qa serve exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    if json.load(response).get("status") == "ok":
                        return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("qa serve was not ready in time")
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def bench_serve(index_dir: Path, runs: int) -> dict[str, list[float]]:
    out = {"qa serve ready (onnx)": [], "qa serve ready (QA_BACKEND=torch)": []}
    for _ in range(runs):
        out["qa serve ready (onnx)"].append(time_to_ready(index_dir, ENV))
        out["qa serve ready (QA_BACKEND=torch)"].append(time_to_ready(index_dir, {**ENV, "QA_BACKEND": "torch"}))
    return out


def msmarco_texts(limit: int | None = None) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    with open(MSMARCO / "corpus.jsonl", encoding="utf-8") as lines:
        for line in lines:
            doc = json.loads(line)
            ids.append(doc["_id"])
            texts.append(f"{doc.get('title', '')} {doc['text']}".strip())
            if limit and len(texts) >= limit:
                break
    return ids, texts


def embedders(int8: bool) -> dict:
    from qa.embed.models import SentenceTransformerEmbedder, resolve_model
    from qa.embed.onnx import OnnxEmbedder
    from qa.embed.onnx_export import ensure_onnx

    spec = resolve_model()
    fp32 = ensure_onnx(spec)[0]
    default = OnnxEmbedder(spec, fp32)  # questions: ONNX Runtime fp32; passages: OpenVINO
    out = {f"qa default ({default.passage_encoder})": default,
           "onnxruntime fp32 (QA_BACKEND=onnx-fp32)": OnnxEmbedder(spec, fp32, bulk="onnxruntime")}
    if int8:
        out["onnxruntime int8 (QA_BACKEND=onnx-int8)"] = OnnxEmbedder(spec, ensure_onnx(spec, int8=True)[0],
                                                                      quantized=True)
    out["sentence-transformers torch fp32"] = SentenceTransformerEmbedder(spec)
    return out


def encode_passages(model):
    """How `qa index` embeds passages with `model` (index.write_index does the same)."""
    return getattr(model, "encode_passages", model.encode)


def bench_indexing(models: dict, texts: list[str], runs: int) -> dict[str, list[float]]:
    out = {name: [] for name in models}
    for name, model in models.items():
        encode_passages(model)(texts[:64])  # warm up
    for _ in range(runs):
        for name, model in models.items():
            started = time.perf_counter()
            encode_passages(model)(texts)
            out[name].append(len(texts) / (time.perf_counter() - started))
    return out


def bench_ndcg(models: dict) -> dict[str, float]:
    import numpy as np
    from ranx import Qrels, Run, evaluate

    ids, texts = msmarco_texts()
    queries = [json.loads(line) for line in open(MSMARCO / "queries.jsonl", encoding="utf-8")]
    qrels: dict = {}
    for line in open(MSMARCO / "qrels" / "test.tsv", encoding="utf-8"):
        qid, cid, rel = line.split("\t")
        qrels.setdefault(qid, {})[cid] = int(rel)
    out = {}
    for name, model in models.items():
        # questions one at a time, as `qa ask` embeds them
        query_vectors = np.vstack([model.encode([q["text"]]) for q in queries])
        scores = query_vectors @ encode_passages(model)(texts).T
        run = {}
        for q, row in zip(queries, scores):
            if q["_id"] in qrels:
                top = np.argsort(-row)[:100]
                run[q["_id"]] = {ids[j]: float(row[j]) for j in top}
        out[name] = float(evaluate(Qrels(qrels), Run(run), "ndcg@10"))
    return out


def build_seed_index(index_dir: Path) -> None:
    from qa.embed import load_embedder
    from qa.store.local.build import build_index

    build_index([ROOT / "corpus"], index_dir, load_embedder(warn=print))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per cold-start figure (median)")
    parser.add_argument("--index-runs", type=int, default=3, help="runs per throughput figure (median)")
    parser.add_argument("--passages", type=int, default=1000, help="msmarco passages to embed for throughput")
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 ONNX model")
    parser.add_argument("--ndcg", action="store_true", help="also msmarco-5k nDCG@10 per backend (slow)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: ask,serve,index")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT / "src"))

    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 150))
    rows = []  # (figure, qa value, baseline name, baseline value, unit, higher is better, target)
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        index_dir = Path(tmp) / "index"
        build_seed_index(index_dir)
        if "ask" not in skip:
            console.print(f"[bold]cold ask[/] ({args.runs} runs each) …")
            ask = bench_ask(index_dir, args.runs)
            onnx = median(ask.pop("qa ask (onnx)"))
            for name, values in ask.items():
                rows.append(("qa ask cold, start → answer", onnx, name, median(values), "s", False, "≤ 1.0 s"))
        if "serve" not in skip:
            if serve_available():
                console.print(f"[bold]serve ready[/] ({args.runs} runs each) …")
                serve = bench_serve(index_dir, args.runs)
                rows.append(("qa serve, start → /health ok", median(serve["qa serve ready (onnx)"]),
                             "QA_BACKEND=torch", median(serve["qa serve ready (QA_BACKEND=torch)"]), "s", False,
                             "≤ 2.0 s"))
            else:
                console.print("[yellow]skipping serve: src/qa/serve/app.py has no `qa serve` yet[/]")
        models = embedders(not args.no_int8) if ("index" not in skip or args.ndcg) else {}
        if "index" not in skip:
            texts = msmarco_texts(args.passages)[1]
            chars = sum(map(len, texts)) / len(texts)
            console.print(f"[bold]indexing throughput[/] ({len(texts)} msmarco passages, {chars:.0f} chars "
                          f"mean, {args.index_runs} runs each) …")
            speed = bench_indexing(models, texts, args.index_runs)
            base = "sentence-transformers torch fp32"
            for name in (n for n in models if n != base):
                rows.append((f"indexing throughput, {name}", median(speed[name]), base, median(speed[base]),
                             "passages/s", True, "≥ 2× baseline"))
        ndcg = bench_ndcg(models) if args.ndcg else {}

    table = Table(title=f"qa speed (medians; {os.cpu_count()} cores; load avg {os.getloadavg()[0]:.1f})")
    for column in ("figure", "qa", "baseline (same run)", "baseline", "ratio", "target"):
        table.add_column(column, justify="right" if column in ("qa", "baseline", "ratio") else "left")
    for figure, value, base_name, base, unit, higher, target in rows:
        ratio = value / base if higher else base / value
        table.add_row(figure, f"{value:.2f} {unit}", base_name, f"{base:.2f} {unit}",
                      f"{ratio:.2f}× {'faster' if ratio >= 1 else 'slower'}", target)
    console.print(table)
    if ndcg:
        quality = Table(title="msmarco-5k nDCG@10 (dense, exact search)")
        quality.add_column("backend")
        quality.add_column("nDCG@10", justify="right")
        quality.add_column("Δ vs torch fp32", justify="right")
        reference = ndcg.get("sentence-transformers torch fp32")
        for name, value in ndcg.items():
            quality.add_row(name, f"{value:.4f}", f"{value - reference:+.4f}" if reference is not None else "")
        console.print(quality)


if __name__ == "__main__":
    main()
