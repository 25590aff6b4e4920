"""Attacks a hostile client or a careless neighbour makes on `qa serve`: endless headers, an index
truncated under the server, giant document texts (issue 32)."""

from __future__ import annotations

import os
import select
import shutil
import socket
import tempfile
import threading
from pathlib import Path

import httpx

from conftest import free_port  # noqa: F401  (the helpers below start real servers on it)
from test_serve import TIMEOUT, serving


def _endless_header(address) -> tuple[bytes, int]:
    """Send one header that never ends, 4 KiB at a time, until the server answers; (answer, bytes sent)."""
    sent = 0
    with socket.create_connection(address) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ")
        while sent < 4 * 1024 * 1024:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(b"a" * 4096)
            except OSError:
                break
            sent += 4096
        sock.settimeout(30)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer, sent


def test_an_endless_header_is_refused_at_the_cap_while_other_clients_are_answered(retriever):
    from qa.serve.app import create_app
    from qa.serve.server import MAX_HEADER_BYTES

    with serving(create_app(retriever)) as url:
        address = ("127.0.0.1", int(url.rsplit(":", 1)[1]))
        results: list = [None, None]
        attackers = [threading.Thread(target=lambda i=i: results.__setitem__(i, _endless_header(address)))
                     for i in range(2)]
        for attacker in attackers:
            attacker.start()
        with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
            others = [client.get("/health").status_code for _ in range(20)]
        for attacker in attackers:
            attacker.join(60)
        # a long but legitimate header still passes
        ok = httpx.get(f"{url}/health", headers={"X-Long": "b" * (MAX_HEADER_BYTES // 2)}, timeout=TIMEOUT)
    assert others == [200] * 20 and ok.status_code == 200
    for answer, sent in results:
        assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:200]
        assert answer.endswith(b'{"error": {"status": 431, "message": "the request line and headers are over 32 KiB"}}')
        # the connection was cut at the cap, not after megabytes (what the socket buffers held aside)
        assert sent < 4 * 1024 * 1024


QUESTION = "Which country is the protecting power for the US in North Korea?"


def test_truncating_the_served_index_in_place_does_not_kill_the_server(seed_index_dir, tmp_path):
    from conftest import start_server, stop_server

    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
    process, url = start_server(index_dir, tmp_path / "serve.log")
    try:
        with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
            before = client.post("/ask", json={"question": QUESTION, "k": 3, "mode": "hybrid"}).json()
            for path in index_dir.rglob("*"):  # every mapped file cut to nothing, as `: > file` does
                if path.is_file() and path.name != "manifest.json":
                    with open(path, "r+b") as handle:
                        handle.truncate(0)
            after = [client.post("/ask", json={"question": QUESTION, "k": 3, "mode": mode})
                     for mode in ("dense", "bm25", "hybrid")]
            health = client.get("/health")
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        assert [r.status_code for r in after] == [200, 200, 200] and health.status_code == 200
        assert [p["id"] for p in after[2].json()["passages"]] == [p["id"] for p in before["passages"]]
    finally:
        stop_server(process)
    assert list(Path(tempfile.gettempdir()).glob(f"qa-serve-{process.pid}-*")) == []  # its copy removed


def test_the_copy_of_a_killed_server_is_removed_by_the_next(seed_index_dir):
    import subprocess

    from qa.serve.snapshot import Snapshots

    gone = subprocess.Popen(["true"])
    gone.wait()
    orphan = Path(tempfile.mkdtemp(prefix=f"qa-serve-{gone.pid}-"))
    (orphan / "index").mkdir()
    alive = Path(tempfile.mkdtemp(prefix=f"qa-serve-{os.getpid()}-"))  # a running server's: kept
    snapshots = Snapshots()
    try:
        copy = snapshots.take(seed_index_dir)
        assert copy != seed_index_dir and (copy / "manifest.json").read_bytes() == \
            (seed_index_dir / "manifest.json").read_bytes()
        assert not orphan.exists() and alive.is_dir()
    finally:
        snapshots.remove_all()
        shutil.rmtree(alive)
    assert not copy.exists()


def test_document_text_is_streamed_and_a_span_is_served(tmp_path, embedder):
    from qa.search.retrieval import Retriever
    from qa.serve.app import create_app
    from qa.serve.texts import PIECE_CHARS
    from qa.store.local.build import build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    paragraphs = [f"Paragraph {n} says the river Öre was mapped in {1800 + n % 200}." for n in range(20_000)]
    text = "\ufeff" + "\n\n".join(paragraphs) + "\n"  # ~1.2 MB, with a BOM the text leaves out
    (corpus / "big.txt").write_text(text, encoding="utf-8")
    index = build_index([corpus], tmp_path / "index", embedder)
    with serving(create_app(Retriever(index, embedder))) as url, httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        whole = client.get("/documents/big.txt/text")
        span = client.get("/documents/big.txt/text", params={"start": PIECE_CHARS - 5, "end": PIECE_CHARS + 7})
        tail = client.get("/documents/big.txt/text", params={"start": len(text) - 10})
        bad = client.get("/documents/big.txt/text", params={"start": 10, "end": 5})
        missing = client.get("/documents/nothing.txt/text")
    assert whole.status_code == 200 and whole.text == text[1:]
    assert whole.headers["transfer-encoding"] == "chunked"  # never held whole to send
    assert whole.headers["content-type"] == "text/plain; charset=utf-8"
    assert span.text == text[1:][PIECE_CHARS - 5:PIECE_CHARS + 7]
    assert tail.text == text[1:][len(text) - 10:]
    assert bad.status_code == 200 and bad.text == ""  # text[10:5], as Python slices
    assert missing.status_code == 404 and missing.json() == {"error": {
        "status": 404, "message": "no document named 'nothing.txt' in this index"}}
