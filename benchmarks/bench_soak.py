"""Soak the HTTP API: N keep-alive clients for M seconds, a share of them bad requests; nothing lost.

Starts `qa serve` on a free loopback port (or targets --url, which must be on 127.0.0.1), then each of
--clients threads sends requests on its own keep-alive connection until --seconds have passed. A
share (--bad-share) are bad: a lone surrogate, a bad k, bad JSON, an unknown field, a body over the
limit, a Host the server does not answer to. Each bad request is followed on the same connection by a
valid one: a follow-up that fails (or finds its connection closed) is what "nothing lost" forbids.
Reports the counts by kind and status, the failed follow-ups, p50/p99 of the valid requests, and
the server's resident memory at the start and the end.

    .venv/bin/python benchmarks/bench_soak.py                      # 8 clients, 20 s, on ./index
    .venv/bin/python benchmarks/bench_soak.py --clients 4 --seconds 10 --bad-share 0.5

Not a test: the figures depend on the machine and on what else runs on it. Traffic goes only to
127.0.0.1, and the run stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import QUESTIONS, start_server, summary  # noqa: E402 - beside this file

JSON = {"Content-Type": "application/json"}
# What each bad request sends, and the status it must get
BAD = {
    "lone surrogate": ({"content": b'{"question": "\\ud800 who leads the talks?"}', "headers": JSON}, 422),
    "bad k": ({"json": {"question": QUESTIONS[0], "k": "5"}}, 422),
    "bad JSON": ({"content": b'{"question": "who', "headers": JSON}, 422),
    "unknown field": ({"json": {"question": QUESTIONS[0], "top_k": 3}}, 422),
    "huge body": ({"content": b'{"question": "' + b"x" * 100_000 + b'"}', "headers": JSON}, 413),
    "bad Host": ({"json": {"question": QUESTIONS[0]}, "headers": {"Host": "evil.example"}}, 400),
}


def rss_kib(process: subprocess.Popen | None) -> int | None:
    """The resident memory of `process` in KiB (Linux /proc; None elsewhere or without one)."""
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (AttributeError, OSError, ValueError):
        pass
    return None


def local_port(response: httpx.Response) -> int | None:
    stream = response.extensions.get("network_stream")
    try:
        return stream.get_extra_info("client_addr")[1] if stream else None
    except OSError:  # the connection is already closed
        return None


def soak(url: str, clients: int, seconds: float, bad_share: float, timeout: float, seed: int) -> dict:
    counts: Counter = Counter()  # (kind, status)
    wrong: Counter = Counter()  # bad requests answered with another status than they must get
    follow_ups = {"sent": 0, "failed": 0, "new_connection": 0}
    latencies: list[float] = []
    samples: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def valid(http: httpx.Client, rng: random.Random) -> tuple[httpx.Response | None, str]:
        body = {"question": rng.choice(QUESTIONS), "k": rng.randint(1, 10)}
        started = time.perf_counter()
        try:
            response = http.post("/ask", json=body)
        except httpx.HTTPError as exc:
            return None, f"error: {type(exc).__name__}"
        if response.status_code == 200:
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
        return response, str(response.status_code)

    def client(number: int) -> None:
        rng = random.Random(seed + number)
        with httpx.Client(base_url=url, timeout=timeout) as http:
            while time.monotonic() < deadline:
                if rng.random() >= bad_share:
                    _, status = valid(http, rng)
                    with lock:
                        counts["valid", status] += 1
                    continue
                kind = rng.choice(sorted(BAD))
                request, must = BAD[kind]
                try:
                    response = http.post("/ask", **request)
                    status, port = str(response.status_code), local_port(response)
                except httpx.HTTPError as exc:
                    response, status, port = None, f"error: {type(exc).__name__}", None
                follow, follow_status = valid(http, rng)  # the same client: the same connection, if it lived
                with lock:
                    counts[kind, status] += 1
                    if status != str(must):
                        wrong[kind] += 1
                        if len(samples) < 5:
                            samples.append(f"{kind}: {status} {response.text[:120] if response else ''}")
                    follow_ups["sent"] += 1
                    if follow_status != "200":
                        follow_ups["failed"] += 1
                        if len(samples) < 5:
                            samples.append(f"follow-up after {kind}: {follow_status}")
                    elif port is not None and local_port(follow) != port:
                        follow_ups["new_connection"] += 1

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 2 * timeout + 30)
    wall = time.perf_counter() - started
    total = sum(counts.values()) + follow_ups["sent"]
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": total,
        "requests_per_s": round(total / wall, 1) if wall else float("nan"),
        "by_kind_and_status": {f"{kind} {status}": n for (kind, status), n in sorted(counts.items())},
        "bad_with_wrong_status": dict(wrong),
        "follow_ups": follow_ups,
        "valid": {"answered": len(latencies), **summary(latencies)},
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server on 127.0.0.1 to target (default: start `qa serve`)")
    parser.add_argument("--index-dir", type=Path, default=Path("index"), help="index for the started server "
                        "[default: index]")
    parser.add_argument("--model", help="model for the started server [default: the bundled one]")
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive clients [default: 8]")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to soak [default: 20]")
    parser.add_argument("--bad-share", type=float, default=0.3, help="share of bad requests [default: 0.3]")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, s [default: 30]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the clients' choices [default: 0]")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.clients < 1 or not 0 < args.seconds <= 600 or not 0 <= args.bad_share <= 1:
        parser.error("--clients must be at least 1, --seconds from 0 to 600, --bad-share from 0 to 1")
    if args.url and urlsplit(args.url).hostname != "127.0.0.1":
        parser.error("--url must be on 127.0.0.1: the soak sends bad traffic")

    process = None
    try:
        if args.url:
            url = args.url.rstrip("/")
        else:
            process, url, _ = start_server(args.index_dir, args.model, timeout=300)
        httpx.post(f"{url}/ask", json={"question": QUESTIONS[0]}, timeout=args.timeout)  # warm
        rss_start = rss_kib(process)
        result = soak(url, args.clients, args.seconds, args.bad_share, args.timeout, args.seed)
        result["rss_kib"] = {"start": rss_start, "end": rss_kib(process)}
        result["healthy_after"] = httpx.get(f"{url}/health", timeout=args.timeout).status_code == 200
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    result = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "url": url, **result}

    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['date']}  {result['cpus']} CPUs  {url}  {result['clients']} clients  {result['seconds']} s  "
          f"{result['requests']} requests ({result['requests_per_s']}/s), bad share {args.bad_share}")
    for name, n in result["by_kind_and_status"].items():
        print(f"  {name:<24} {n}")
    follow = result["follow_ups"]
    print(f"follow-ups after a bad request: {follow['sent']} sent, {follow['failed']} failed, "
          f"{follow['new_connection']} on a new connection")
    print(f"bad requests with another status than they must get: {sum(result['bad_with_wrong_status'].values())}")
    valid = result["valid"]
    print(f"valid requests answered: {valid['answered']}  p50 {valid['p50_ms']} ms  p99 {valid['p99_ms']} ms")
    rss = result["rss_kib"]
    if rss["start"] is not None:
        print(f"server RSS: {rss['start'] / 1024:.0f} MiB at the start, {rss['end'] / 1024:.0f} MiB at the end")
    print(f"healthy after: {result['healthy_after']}")
    for sample in result["samples"]:
        print(f"  sample: {sample}")


if __name__ == "__main__":
    main()
