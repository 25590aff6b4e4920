"""Probe `qa serve` as a hostile client would (issue 32): endless headers, slow headers and giant texts.

Starts `qa serve` over an index of the seed corpus plus one HTML page whose extracted text is replaced
by --text-mb of text (embedding that much would take hours here; serving it needs no passages), then,
in turn:
  1. ten clients each sending one endless header as fast as they can (until the server cuts them),
  2. two clients sending an endless header slowly (1 KiB every 0.2 s),
  3. eight concurrent reads of the large document's text,
while one well-behaved client asks /health over and over. Reports the server's RSS before and at its
peak during each attack, what each attacker got back, and the well-behaved client's latencies
(p50, max) and count. Not a test: figures depend on the machine.

    .venv/bin/python benchmarks/bench_hostile.py --text-mb 100
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def endless_header(address, chunk: int, pause: float, limit: int, seconds: float) -> str:
    sent, started = 0, time.monotonic()
    with socket.create_connection(address) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ")
        sock.setblocking(False)
        while sent < limit and time.monotonic() - started < seconds:
            try:
                if sock.recv(65536, socket.MSG_PEEK):
                    break
            except BlockingIOError:
                pass
            except OSError:
                break
            try:
                sent += sock.send(b"a" * chunk)
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                break
            time.sleep(pause)
        sock.setblocking(True)
        sock.settimeout(30)
        try:
            answer = sock.recv(200)
        except OSError as exc:
            answer = str(exc).encode()
    status = answer.split(b"\r\n")[0].decode(errors="replace") or "closed"
    return f"{status} after {sent // 1024} KiB"


def attack(url: str, pid: int, workers: list) -> dict:
    """Run `workers` (callables) at once while a good client asks /health; RSS and its latencies."""
    peak, latencies, done, results = [rss_mb(pid)], [], threading.Event(), [None] * len(workers)
    before = peak[0]

    def sample():
        while not done.is_set():
            peak.append(rss_mb(pid))
            time.sleep(0.05)

    def good():
        with httpx.Client(base_url=url, timeout=60) as client:
            while not done.is_set():
                started = time.perf_counter()
                client.get("/health")
                latencies.append((time.perf_counter() - started) * 1000)
                time.sleep(0.02)

    helpers = [threading.Thread(target=sample, daemon=True), threading.Thread(target=good, daemon=True)]
    threads = [threading.Thread(target=lambda i=i, w=w: results.__setitem__(i, w()), daemon=True)
               for i, w in enumerate(workers)]
    for thread in helpers + threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    done.set()
    for thread in helpers:
        thread.join(60)
    return {"rss_before_mb": round(before, 1), "rss_peak_mb": round(max(peak), 1),
            "good_requests": len(latencies), "good_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
            "good_max_ms": round(max(latencies), 1) if latencies else None, "attackers": sorted(set(map(str, results)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text-mb", type=int, default=100, help="size of the large text file [default: 100]")
    parser.add_argument("--work", type=Path, help="folder for the corpus and index [default: a temporary one]")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the qa source to serve, e.g. another "
                        "checkout's src/ for a before-and-after run [default: this checkout's]")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "corpus" / "north-korea-diplomacy.txt", corpus)
    (corpus / "large.html").write_text("<html><body><h1>Large</h1><p>A page whose text is replaced.</p></body></html>")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(args.src)}
    subprocess.run([sys.executable, "-m", "qa.cli", "index", str(corpus), "--index-dir", str(work / "index")],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    # Embedding a 100 MB text takes hours on 2 cores; serving it does not need its passages. So the
    # small page's extracted text is replaced by --text-mb of text, and the manifest's hashes recorded
    # again (as tests/conftest.py's record_hashes_again does): the server then serves a text that large.
    sys.path.insert(0, str(args.src))
    from qa.store.local.documents import read_records
    from qa.store.local.folder import VERIFIED, hash_files

    text_file = work / "index" / read_records(work / "index")["large.html"]["text"]
    line = "the river was mapped again in the spring survey and the new banks were marked\n"
    with open(text_file, "w", encoding="utf-8") as out:
        for _ in range(args.text_mb * 1024 * 1024 // len(line)):
            out.write(line)
    manifest = json.loads((work / "index" / "manifest.json").read_text())
    manifest["file_hashes"] = hash_files(work / "index")
    (work / "index" / "manifest.json").write_text(json.dumps(manifest))
    (work / "index" / VERIFIED).unlink(missing_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--port", str(port), "--index-dir",
                               str(work / "index")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            time.sleep(0.2)
        address = ("127.0.0.1", port)
        fast = [lambda: endless_header(address, 65536, 0, 64 << 20, 30)] * 10
        slow = [lambda: endless_header(address, 1024, 0.2, 64 << 20, 30)] * 2

        def read_text():
            with httpx.stream("GET", f"{url}/documents/large.html/text", timeout=300) as response:
                size = sum(len(chunk) for chunk in response.iter_bytes())
            return f"{response.status_code}, {size // (1 << 20)} MiB"

        result = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "text_mb": args.text_mb,
                  "src": str(args.src),
                  "fast_endless_headers_x10": attack(url, server.pid, fast),
                  "slow_endless_headers_x2": attack(url, server.pid, slow),
                  "large_text_reads_x8": attack(url, server.pid, [read_text] * 8),
                  "server_alive": server.poll() is None}
    finally:
        server.terminate()
        server.wait(30)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
