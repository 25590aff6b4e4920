"""`qa serve` for real: a subprocess on a loopback port, asked over HTTP with httpx."""

from __future__ import annotations

import contextlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import free_port, start_server, stop_server

QUESTION = "Which country is the protecting power for the US in North Korea?"
TIMEOUT = httpx.Timeout(30.0)


def test_health(qa_server, retriever):
    response = httpx.get(f"{qa_server}/health", timeout=TIMEOUT)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["passage_count"] == len(retriever.index.passages)
    assert body["model"] == "all-MiniLM-L6-v2"
    assert body["built_at"] == retriever.index.manifest["built_at"]


def test_ask_over_http(qa_server, retriever):
    response = httpx.post(f"{qa_server}/ask", json={"question": QUESTION, "k": 3}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert "Sweden" in body["passages"][0]["text"]
    expected = retriever.ask(QUESTION, 3).to_dict()
    assert [p["id"] for p in body["passages"]] == [p["id"] for p in expected["passages"]]
    assert [p["score"] for p in body["passages"]] == pytest.approx([p["score"] for p in expected["passages"]],
                                                                   abs=1e-3)
    got = httpx.get(f"{qa_server}/ask", params={"q": QUESTION, "k": 3}, timeout=TIMEOUT).json()
    assert [p["id"] for p in got["passages"]] == [p["id"] for p in body["passages"]]


def test_passage_over_http(qa_server, retriever):
    first = retriever.index.passages[0]
    body = httpx.get(f"{qa_server}/passages/{first.id}", timeout=TIMEOUT).json()
    assert (body["id"], body["text"], body["previous"]) == (first.id, first.text, None)


def test_errors_over_http(qa_server):
    response = httpx.post(f"{qa_server}/ask", json={"question": QUESTION, "k": 0}, timeout=TIMEOUT)
    assert (response.status_code, response.json()) == (
        422, {"error": {"status": 422, "message": "k must be a whole number from 1 to 100, not 0"}})

    def chunks():  # chunked transfer, no Content-Length
        yield b'{"question": "'
        for _ in range(40):
            yield b"x" * 4096
        yield b'"}'

    response = httpx.post(f"{qa_server}/ask", content=chunks(), headers={"Content-Type": "application/json"},
                          timeout=TIMEOUT)
    assert response.status_code == 413 and response.json()["error"]["status"] == 413

    big = json.dumps({"question": "x" * 70_000}).encode()
    response = httpx.post(f"{qa_server}/ask", content=big, headers={"Content-Type": "application/json"},
                          timeout=TIMEOUT)
    assert response.status_code == 413


def _local_port(response: httpx.Response) -> int:
    """The client-side port of the connection that carried `response`."""
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


def test_a_bad_question_leaves_the_keep_alive_connection_usable(qa_server):
    with httpx.Client(base_url=qa_server, timeout=TIMEOUT) as client:
        bad = client.post("/ask", content=b'{"question": "\\ud800 who"}', headers={"Content-Type": "application/json"})
        first = _local_port(bad)
        good = client.post("/ask", json={"question": QUESTION, "k": 1})
        assert _local_port(good) == first  # one connection: the bad request did not close it
    assert (bad.status_code, bad.json()) == (422, {"error": {"status": 422, "message": (
        "the question holds characters that are not valid text (U+D800); send it as UTF-8")}})
    assert good.status_code == 200 and "Sweden" in good.json()["passages"][0]["text"]


@contextlib.contextmanager
def serving(app, **options):
    """`app` under the uvicorn server `qa serve` runs (qa.serve.server.server), in a thread on a free loopback port."""
    import time

    from qa.serve.server import server

    port = free_port()
    running = server(app, "127.0.0.1", port, **options)
    thread = threading.Thread(target=running.run, name="qa-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(30)


def test_an_internal_error_is_answered_and_leaves_the_connection_usable(retriever, monkeypatch):
    from qa.serve.app import create_app

    app = create_app(retriever)
    with serving(app) as url, httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        batcher = app.state.qa.batcher
        ask = batcher.ask

        def ask_or_fail(question, k, mode):  # a bug on one question: the server must survive it
            if question == "boom":
                raise RuntimeError("a bug")
            return ask(question, k, mode)

        monkeypatch.setattr(batcher, "ask", ask_or_fail)
        failed = client.post("/ask", json={"question": "boom"})
        first = _local_port(failed)
        good = client.post("/ask", json={"question": QUESTION, "k": 1})
        assert _local_port(good) == first
    assert (failed.status_code, failed.json()) == (500, {"error": {
        "status": 500, "message": "internal error: the server's log has the details"}})
    assert "connection" not in failed.headers
    assert good.status_code == 200 and "Sweden" in good.json()["passages"][0]["text"]


def test_head_allow_and_host_over_http(qa_server):
    with httpx.Client(base_url=qa_server, timeout=TIMEOUT) as client:
        got, head = client.get("/health"), client.head("/health")
        assert (head.status_code, head.content, head.headers["content-length"]) == (
            200, b"", got.headers["content-length"])
        put = client.put("/ask")
        assert (put.status_code, put.headers["allow"]) == (405, "GET, HEAD, POST")
        port = qa_server.rsplit(":", 1)[1]
        assert client.get("/health", headers={"Host": f"localhost:{port}"}).status_code == 200
        rebound = client.get("/health", headers={"Host": f"evil.example:{port}"})
        assert (rebound.status_code, rebound.json()) == (400, {"error": {"status": 400, "message": (
            "this server does not answer to the host name 'evil.example' (a guard against DNS rebinding); "
            "to allow it, start it with --allow-host evil.example")}})


def _read_until_closed(sock) -> bytes:
    """Everything the server sends until it closes the connection (generous: a minute at most)."""
    sock.settimeout(60)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.slow  # waits out the server's real timeouts: ~6 s
def test_connections_that_do_not_send_a_whole_request_in_time_are_closed(retriever):
    import socket

    from qa.serve.app import create_app

    # the timeouts leave seconds to this side's sends, so a busy machine cannot beat them; every
    # connection is opened at once and read at the end, so the test waits for the longest only
    with serving(create_app(retriever), request_timeout=2, keep_alive_timeout=6) as url:
        address = ("127.0.0.1", int(url.rsplit(":", 1)[1]))
        idle = socket.create_connection(address)  # connects and sends nothing
        half = socket.create_connection(address)  # half the headers (slowloris)
        half.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        stalled = socket.create_connection(address)  # whole headers, half the body
        stalled.sendall(b"POST /ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"question\"")
        kept = socket.create_connection(address)  # one request answered, then half of the next
        kept.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = b""
        while b'"message":null}' not in first:
            first += kept.recv(65536)
        kept.sendall(b"GET /health HTTP/1.1\r\n")
        done = socket.create_connection(address)  # answered, then idle past the keep-alive timeout
        done.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        with idle, half, stalled, kept, done:
            answers = [_read_until_closed(sock) for sock in (idle, half, stalled, kept, done)]
        assert httpx.get(f"{url}/health", timeout=TIMEOUT).status_code == 200  # whole requests still work
    timed_out = b'\r\n\r\n{"error": {"status": 408, "message": "the request did not arrive within 2 s"}}'
    assert answers[0] == b""
    assert answers[1].startswith(b"HTTP/1.1 408 Request Timeout\r\n") and answers[1].endswith(timed_out)
    assert b"connection: close\r\n" in answers[1]
    assert answers[2] == b""  # the app saw the client go: nothing to answer
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and answers[3].startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answers[4].startswith(b"HTTP/1.1 200 OK\r\n") and answers[4].endswith(b'"message":null}')


def test_concurrent_clients_get_consistent_answers(qa_server):
    questions = [QUESTION, "Who led the diplomacy with North Korea?", "How many embassies are in Pyongyang?"]

    def ask(n: int) -> tuple[str, list[str]]:
        with httpx.Client(base_url=qa_server, timeout=TIMEOUT) as client:
            question = questions[n % len(questions)]
            response = client.post("/ask", json={"question": question, "k": 4})
            response.raise_for_status()
            return question, [p["id"] for p in response.json()["passages"]]

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(ask, range(24)))
    by_question: dict[str, set] = {}
    for question, ids in results:
        by_question.setdefault(question, set()).add(tuple(ids))
    assert all(len(answers) == 1 for answers in by_question.values()), by_question


def test_serve_without_an_index_starts_and_says_how_to_build_one(tmp_path):
    """No index and no corpus to build one from: the server still starts; /health and /ask say why (503)."""
    process, url = start_server(tmp_path / "index", tmp_path / "serve.log", cwd=tmp_path)
    try:
        health = httpx.get(f"{url}/health", timeout=TIMEOUT)
        assert health.status_code == 503 and health.json()["status"] == "unavailable"
        ask = httpx.post(f"{url}/ask", json={"question": QUESTION}, timeout=TIMEOUT)
        assert ask.status_code == 503
        assert "qa index" in ask.json()["error"]["message"]
    finally:
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it: -15 is a clean stop
        assert stop_server(process) in (0, -15)
    assert "qa index" in (tmp_path / "serve.log").read_text()


def test_a_taken_port_is_refused_at_once(qa_server):
    import subprocess
    import sys

    port = qa_server.rsplit(":", 1)[1]
    done = subprocess.run([sys.executable, "-m", "qa.cli", "serve", "--port", port], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use (choose another with --port)\n"


def _index(folder, index_dir) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "qa.cli", "index", str(folder), "--index-dir", str(index_dir)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def _wait_for_doc(url: str, question: str, doc: str, seconds: float = 60) -> dict:
    """Ask until the top passage comes from `doc` (the server checks for a rebuilt index once a second)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        response = httpx.post(f"{url}/ask", json={"question": question, "k": 1}, timeout=TIMEOUT)
        if response.status_code == 200 and response.json()["passages"][0]["doc"] == doc:
            return response.json()
        if time.monotonic() > deadline:
            raise AssertionError(f"no answer from {doc} within {seconds:.0f} s: {response.status_code} {response.text}")
        time.sleep(0.3)


def test_an_index_built_or_rebuilt_while_serving_is_picked_up_without_a_restart(tmp_path):
    index_dir, log = tmp_path / "index", tmp_path / "serve.log"
    tea, coffee = tmp_path / "tea", tmp_path / "coffee"
    tea.mkdir()
    coffee.mkdir()
    (tea / "tea.md").write_text("# Tea\n\nGreen tea is grown on the hillsides of Uji, south of Kyoto.\n")
    (coffee / "coffee.md").write_text("# Coffee\n\nArabica coffee is grown in the highlands of Ethiopia.\n")
    process, url = start_server(index_dir, log, cwd=tmp_path)  # no index yet: 503
    try:
        assert httpx.get(f"{url}/health", timeout=TIMEOUT).status_code == 503
        _index(tea, index_dir)
        answer = _wait_for_doc(url, "Where is green tea grown?", "tea.md")
        assert "Uji" in answer["passages"][0]["text"]
        _index(coffee, index_dir)  # rebuilt in place while serving
        answer = _wait_for_doc(url, "Where is arabica coffee grown?", "coffee.md")
        assert "Ethiopia" in answer["passages"][0]["text"]
        health = httpx.get(f"{url}/health", timeout=TIMEOUT).json()
        assert (health["status"], health["passage_count"]) == ("ok", 1)
    finally:
        assert stop_server(process) in (0, -15)
    assert "loaded the rebuilt index" in log.read_text()


def test_serve_with_an_index_that_fails_a_probe_question_starts_unavailable(seed_index_dir, tmp_path):
    from test_api import damaged_copy

    index_dir = damaged_copy(seed_index_dir, tmp_path / "index", "wide sentence vectors")
    process, url = start_server(index_dir, tmp_path / "serve.log", cwd=tmp_path)
    try:
        health = httpx.get(f"{url}/health", timeout=TIMEOUT)
        ask = httpx.post(f"{url}/ask", json={"question": QUESTION, "mode": "dense"}, timeout=TIMEOUT)
    finally:
        assert stop_server(process) in (0, -15)
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    assert "(it loads but fails a probe question (" in health.json()["message"]
    assert (ask.status_code, ask.json()) == (503, {"error": {"status": 503, "message": health.json()["message"]}})
