"""Benchmark the HTTP API: N concurrent clients over loopback, latency percentiles and throughput.

Starts `qa serve` on a free loopback port (or targets --url), sends a bounded number of POST /ask
requests from --clients threads (each with its own keep-alive connection), and reports p50/p95/p99
latency and requests/s. Beside them, in the same run: the server-side `took_ms` the responses carry,
and the in-process `Retriever.ask` latency on the same questions (the floor HTTP adds to).

    .venv/bin/python benchmarks/bench_api.py                      # start a server on ./index
    .venv/bin/python benchmarks/bench_api.py --clients 8 --requests 2000
    .venv/bin/python benchmarks/bench_api.py --url http://127.0.0.1:8000 --no-baseline

Targets (2-core machine, seed corpus, 4 clients): p50 <= 15 ms, p99 <= 60 ms, >= 100 requests/s.
Not a test: the figures depend on the machine and on what else runs on it.
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
import threading
import time
from pathlib import Path

import httpx

QUESTIONS = [
    "Which country is the protecting power for the US in North Korea?",
    "Who led the diplomacy efforts with North Korea?",
    "How many countries have embassies in Pyongyang?",
    "How many states does North Korea have diplomatic relations with?",
    "Which countries have severed diplomatic ties with North Korea?",
    "When did North Korea conduct its third nuclear test?",
    "Does North Korea have a mission to the United Nations?",
    "What is the Byungjin policy?",
    "Which country established diplomatic relations with Syria?",
    "What did the Singapore summit agree?",
]
TARGETS = {"p50_ms": 15.0, "p99_ms": 60.0, "requests_per_s": 100.0}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(latencies_ms: list[float]) -> dict:
    return {
        "p50_ms": round(percentile(latencies_ms, 50), 2),
        "p95_ms": round(percentile(latencies_ms, 95), 2),
        "p99_ms": round(percentile(latencies_ms, 99), 2),
        "mean_ms": round(statistics.fmean(latencies_ms), 2) if latencies_ms else float("nan"),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index_dir: Path, model: str | None, timeout: float) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkstemp(prefix="bench-api-", suffix=".log")[1])
    command = [sys.executable, "-m", "qa.cli", "serve", "--port", str(port), "--index-dir", str(index_dir)]
    if model:
        command += ["--model", model]
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"qa serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url, log
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    sys.exit(f"qa serve did not become healthy within {timeout:.0f} s:\n{log.read_text(errors='replace')}")


def cpu_seconds(process: subprocess.Popen | None) -> float:
    """User + system CPU seconds used so far by `process` (Linux /proc; 0 elsewhere or without one)."""
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (AttributeError, OSError, IndexError, ValueError):
        return 0.0


def run_clients(url: str, clients: int, requests: int, k: int, mode: str | None, timeout: float) -> dict:
    """`requests` POST /ask spread over `clients` threads; latencies are client-side, per request."""
    latencies: list[float] = []
    server_ms: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(requests))
    start_line = threading.Barrier(clients + 1)

    def client() -> None:
        with httpx.Client(base_url=url, timeout=timeout) as http:
            http.get("/health")  # open the keep-alive connection before the clock starts
            start_line.wait()
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                body = {"question": QUESTIONS[n % len(QUESTIONS)], "k": k}
                if mode:
                    body["mode"] = mode
                started = time.perf_counter()
                try:
                    response = http.post("/ask", json=body)
                    elapsed = (time.perf_counter() - started) * 1000
                    ok = response.status_code == 200
                    took = response.json().get("took_ms") if ok else None
                except httpx.HTTPError as exc:
                    elapsed, ok, took = 0.0, False, None
                    response = exc
                with lock:
                    if ok:
                        latencies.append(elapsed)
                        server_ms.append(took)
                    else:
                        errors.append(str(getattr(response, "status_code", response)))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout * requests)
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:5],
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(latencies) / wall, 1) if wall else float("nan"),
        **summary(latencies),
        "server_took_ms": summary([t for t in server_ms if t is not None]),
    }


def in_process_baseline(index_dir: Path, model: str | None, count: int, k: int, mode: str | None) -> dict:
    """`Retriever.ask` on the same questions, one at a time, in this process (no HTTP)."""
    from qa.config import Settings
    from qa.wiring import open_retriever

    retriever = open_retriever(Settings(index_dir=index_dir, model=model), build_if_missing=True)
    kwargs = {"mode": mode} if mode else {}
    for question in QUESTIONS:  # warm up
        retriever.ask(question, k, **kwargs)
    latencies = []
    for n in range(count):
        started = time.perf_counter()
        retriever.ask(QUESTIONS[n % len(QUESTIONS)], k, **kwargs)
        latencies.append((time.perf_counter() - started) * 1000)
    return {"requests": count, **summary(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server to target (default: start `qa serve`)")
    parser.add_argument("--index-dir", type=Path, default=Path("index"), help="index for the started server "
                        "and the in-process baseline [default: index]")
    parser.add_argument("--model", help="model for the started server [default: the bundled one]")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients [default: 4]")
    parser.add_argument("--requests", type=int, default=1000, help="measured requests in all [default: 1000]")
    parser.add_argument("--warmup", type=int, default=40, help="unmeasured requests first [default: 40]")
    parser.add_argument("-k", type=int, default=5, help="passages per answer [default: 5]")
    parser.add_argument("--mode", help="retrieval mode [default: the server's]")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s [default: 30]")
    parser.add_argument("--no-baseline", action="store_true", help="skip the in-process baseline")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.clients < 1 or args.requests < 1:
        parser.error("--clients and --requests must be at least 1")

    process = None
    try:
        if args.url:
            url = args.url.rstrip("/")
        else:
            process, url, _ = start_server(args.index_dir, args.model, timeout=300)
        health = httpx.get(f"{url}/health", timeout=args.timeout).json()
        if args.warmup:
            run_clients(url, args.clients, args.warmup, args.k, args.mode, args.timeout)
        server_cpu, client_cpu = cpu_seconds(process), time.process_time()
        http = run_clients(url, args.clients, args.requests, args.k, args.mode, args.timeout)
        server_cpu, client_cpu = cpu_seconds(process) - server_cpu, time.process_time() - client_cpu
        if process is not None and http["requests"]:
            # where the two cores go: the server's CPU time and this load generator's, per request
            http["cpu_ms_per_request"] = {"server": round(server_cpu * 1000 / http["requests"], 2),
                                          "clients": round(client_cpu * 1000 / http["requests"], 2)}
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()

    result = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "url": url,
              "passages": health.get("passage_count"), "model": health.get("model"), "k": args.k,
              "mode": args.mode, "http": http}
    if not args.no_baseline:
        baseline = in_process_baseline(args.index_dir, args.model, min(args.requests, 300), args.k, args.mode)
        result["in_process"] = baseline
        result["http_p50_over_in_process_p50"] = round(http["p50_ms"] / baseline["p50_ms"], 2)
    result["targets"] = {name: {"target": target, "value": http[name],
                                "met": http[name] >= target if name == "requests_per_s" else http[name] <= target}
                         for name, target in TARGETS.items()}

    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['date']}  {result['cpus']} CPUs  {result['passages']} passages  {result['model']}  "
          f"k={args.k}  mode={args.mode or 'default'}  {url}")
    print(f"HTTP POST /ask, {http['clients']} clients, {http['requests']} requests ({http['errors']} errors) "
          f"in {http['wall_s']} s: {http['requests_per_s']} requests/s")
    print(f"  latency  p50 {http['p50_ms']} ms  p95 {http['p95_ms']} ms  p99 {http['p99_ms']} ms  "
          f"mean {http['mean_ms']} ms")
    if "cpu_ms_per_request" in http:
        cpu = http["cpu_ms_per_request"]
        print(f"  CPU per request: server {cpu['server']} ms, load generator {cpu['clients']} ms "
              f"(of {result['cpus']} CPUs)")
    took = http["server_took_ms"]
    print(f"  server took_ms  p50 {took['p50_ms']}  p95 {took['p95_ms']}  p99 {took['p99_ms']}")
    if "in_process" in result:
        base = result["in_process"]
        print(f"in-process Retriever.ask, 1 caller, {base['requests']} calls: p50 {base['p50_ms']} ms  "
              f"p95 {base['p95_ms']} ms  p99 {base['p99_ms']} ms  "
              f"(HTTP p50 / in-process p50 = {result['http_p50_over_in_process_p50']}x)")
    for name, check in result["targets"].items():
        print(f"  target {name} {'>=' if name == 'requests_per_s' else '<='} {check['target']}: "
              f"{check['value']}  {'met' if check['met'] else 'NOT met'}")
    if http["errors"]:
        print(f"  error samples: {http['error_samples']}")


if __name__ == "__main__":
    main()
