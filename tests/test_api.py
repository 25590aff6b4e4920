"""The HTTP API in process (FastAPI's TestClient): every route and every kind of bad input."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from qa import __version__
from qa.serve.app import MAX_BODY_BYTES, AskRequest, AskResponse, create_app
from qa.search.retrieval import MAX_QUESTION_CHARS

QUESTION = "Which country is the protecting power for the US in North Korea?"


def local(app) -> TestClient:
    """A TestClient that calls as a browser on this machine would (Host: 127.0.0.1; TestClient's default
    "testserver" is refused, see HostCheck). An exception that gets past the app fails the test."""
    return TestClient(app, base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def client(retriever):
    with local(create_app(retriever)) as client:
        yield client


def error(status: int, message: str) -> dict:
    return {"error": {"status": status, "message": message}}


def without_timing(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "took_ms"}


# --- /ask ------------------------------------------------------------------------------------------


def test_post_ask_is_the_cli_json_plus_took_ms(client, retriever):
    response = client.post("/ask", json={"question": QUESTION, "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert without_timing(body) == retriever.ask(QUESTION, 3).to_dict()
    assert isinstance(body["took_ms"], float) and body["took_ms"] >= 0
    assert "Sweden" in body["passages"][0]["text"]
    AskResponse.model_validate(body)  # the documented schema describes what is sent


def test_post_ask_defaults_to_five_passages(client):
    body = client.post("/ask", json={"question": QUESTION}).json()
    assert len(body["passages"]) == 5


def test_get_ask_matches_post(client):
    got = client.get("/ask", params={"q": QUESTION, "k": 2})
    posted = client.post("/ask", json={"question": QUESTION, "k": 2})
    assert got.status_code == 200
    assert without_timing(got.json()) == without_timing(posted.json())


def test_ask_passes_the_mode_through(client, retriever):
    modes = pytest.importorskip("qa.search.retrieval").__dict__.get("MODES")
    if not modes:
        pytest.skip("this retrieval.py has no modes")
    for mode in modes:
        body = client.post("/ask", json={"question": QUESTION, "k": 2, "mode": mode}).json()
        assert without_timing(body) == retriever.ask(QUESTION, 2, mode=mode).to_dict()
        got = client.get("/ask", params={"q": QUESTION, "k": 2, "mode": mode}).json()
        assert without_timing(got) == without_timing(body)


def test_json_without_content_type_is_accepted(client):
    response = client.post("/ask", content=json.dumps({"question": QUESTION, "k": 1}).encode())
    assert response.status_code == 200
    assert len(response.json()["passages"]) == 1


@pytest.mark.parametrize(
    "body, message",
    [
        ({"question": ""}, "the question is empty: ask something, e.g. qa ask \"who leads the talks?\""),
        ({"question": "   \n "}, "the question is empty: ask something, e.g. qa ask \"who leads the talks?\""),
        ({"question": "x" * (MAX_QUESTION_CHARS + 1)},
         f"the question is {MAX_QUESTION_CHARS + 1} characters long; the limit is {MAX_QUESTION_CHARS}"),
        ({"question": QUESTION, "k": 0}, "k must be a whole number from 1 to 100, not 0"),
        ({"question": QUESTION, "k": 101}, "k must be a whole number from 1 to 100, not 101"),
        ({"question": QUESTION, "k": -3}, "k must be a whole number from 1 to 100, not -3"),
        ({"question": QUESTION, "k": "5"}, "k must be a whole number from 1 to 100, not \"5\""),
        ({"question": QUESTION, "k": 2.5}, "k must be a whole number from 1 to 100, not 2.5"),
        ({"question": QUESTION, "k": True}, "k must be a whole number from 1 to 100, not true"),
        ({"question": QUESTION, "k": None}, "k must be a whole number from 1 to 100, not null"),
        ({"question": 42}, "question must be a string, not 42"),
        ({"question": ["a", "b"]}, "question must be a string, not [\"a\", \"b\"]"),
        ({}, "question is missing: send a JSON object like {\"question\": \"who leads the talks?\"}"),
        ({"q": QUESTION}, "question is missing: send a JSON object like {\"question\": \"who leads the talks?\"}; "
                          "unknown field 'q': the fields are question, k and mode"),
        ({"question": QUESTION, "top_k": 3}, "unknown field 'top_k': the fields are question, k and mode"),
        ([QUESTION], "the request body must be a JSON object, e.g. {\"question\": \"who leads the talks?\", \"k\": 5}"),
        ("just a string", "the request body must be a JSON object, e.g. {\"question\": \"who leads the talks?\", "
                          "\"k\": 5}"),
    ],
)
def test_bad_post_bodies_are_422_with_a_readable_message(client, body, message):
    response = client.post("/ask", json=body)
    assert (response.status_code, response.json()) == (422, error(422, message))


def test_unknown_mode_is_422(client):
    if not pytest.importorskip("qa.search.retrieval").__dict__.get("MODES"):
        pytest.skip("this retrieval.py has no modes")
    response = client.post("/ask", json={"question": QUESTION, "mode": "telepathy"})
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("mode must be one of ")
    assert "'telepathy'" in response.json()["error"]["message"]
    assert client.get("/ask", params={"q": QUESTION, "mode": "telepathy"}).json() == response.json()


@pytest.mark.parametrize("escaped, code", [
    ("\\ud800 who", "D800"), ("who \\udcff\\udcfe leads", "DCFF"), ("\\udfff", "DFFF"), ("who \\ude00?", "DE00"),
])
def test_a_question_with_a_lone_surrogate_is_422(client, escaped, code):
    body = b'{"question": "' + escaped.encode() + b'"}'  # the raw JSON escape: json= could not send it
    response = client.post("/ask", content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (422, error(
        422, f"the question holds characters that are not valid text (U+{code}); send it as UTF-8"))


def test_a_surrogate_pair_and_control_characters_are_text(client):
    response = client.post("/ask", content=b'{"question": "who leads \\ud83d\\ude00 the talks?", "k": 1}',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.json()["question"] == "who leads \U0001f600 the talks?"
    question = "who\x00 leads\x01 the\x7f talks\u200b?"
    response = client.post("/ask", json={"question": question, "k": 1})
    assert response.status_code == 200 and response.json()["question"] == question


def test_an_internal_error_is_a_500_in_the_error_shape(retriever, monkeypatch):
    app = create_app(retriever)
    # the test fails if the exception gets past the app, as it did to uvicorn
    with local(app) as client:
        def broken(question, k, mode):
            raise RuntimeError("a bug")

        monkeypatch.setattr(app.state.qa.batcher, "ask", broken)
        response = client.post("/ask", json={"question": QUESTION})
    assert (response.status_code, response.json()) == (500, error(
        500, "internal error: the server's log has the details"))


def test_invalid_json_is_422(client):
    response = client.post("/ask", content=b'{"question": "who', headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("the request body is not valid JSON (")


def test_body_that_is_not_utf8_is_422(client):
    response = client.post("/ask", content=b'{"question": "\xff\xfe"}', headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (422, error(422, "the request body is not valid JSON (is it UTF-8?)"))


@pytest.mark.parametrize("request_kwargs", [
    {"content": json.dumps({"question": QUESTION}).encode(), "headers": {"Content-Type": "text/plain"}},
    {"data": {"question": QUESTION}},
])
def test_body_that_is_not_sent_as_json_is_422(client, request_kwargs):
    response = client.post("/ask", **request_kwargs)
    assert (response.status_code, response.json()) == (422, error(
        422, 'the request body must be JSON sent with Content-Type: application/json, '
             'e.g. {"question": "who leads the talks?", "k": 5}'))


def test_empty_body_is_422(client):
    response = client.post("/ask", content=b"", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json() == error(422, "the request body must be a JSON object, e.g. "
                                         "{\"question\": \"who leads the talks?\", \"k\": 5}")


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "the question is missing: ask with /ask?q=your+question"),
        ({"q": "  "}, "the question is empty: ask something, e.g. qa ask \"who leads the talks?\""),
        ({"q": QUESTION, "k": "ten"}, "k must be a whole number from 1 to 100, not \"ten\""),
        ({"q": QUESTION, "k": "0"}, "k must be a whole number from 1 to 100, not 0"),
        ({"q": QUESTION, "k": "1000"}, "k must be a whole number from 1 to 100, not 1000"),
        ({"q": "y" * (MAX_QUESTION_CHARS + 1)},
         f"the question is {MAX_QUESTION_CHARS + 1} characters long; the limit is {MAX_QUESTION_CHARS}"),
    ],
)
def test_bad_get_queries_are_422(client, params, message):
    response = client.get("/ask", params=params)
    assert (response.status_code, response.json()) == (422, error(422, message))


def test_body_over_64_kib_is_413_by_content_length(client):
    body = json.dumps({"question": "x" * MAX_BODY_BYTES}).encode()
    response = client.post("/ask", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == error(413, "the request body is over 64 KiB; questions are at most 2000 characters")


def test_streamed_body_over_64_kib_is_413(client):
    def chunks():  # no Content-Length: sent chunked, so only counting the bytes can catch it
        yield b'{"question": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    response = client.post("/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["status"] == 413


def test_streamed_body_under_the_limit_is_fine(client):
    def chunks():
        yield b'{"question": '
        yield json.dumps(QUESTION).encode()
        yield b', "k": 1}'

    response = client.post("/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert len(response.json()["passages"]) == 1


# --- /health, /passages, errors --------------------------------------------------------------------


def test_health(client, retriever):
    manifest = retriever.index.manifest
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "store": "local",
        "reachable": True,
        "passage_count": len(retriever.index.passages),
        "model": "all-MiniLM-L6-v2",
        "built_at": manifest["built_at"],
        "version": __version__,
        "message": None,
    }


def test_passage_with_neighbours(client, retriever):
    passages = retriever.index.passages
    p = passages[1]
    assert passages[0].doc == p.doc == passages[2].doc
    response = client.get(f"/passages/{p.id}")
    assert response.status_code == 200
    assert response.json() == {
        "id": p.id, "doc": p.doc, "title": p.title, "section": p.section, "ordinal": p.ordinal,
        "start": p.start, "end": p.end, "text": p.text, "page": None,
        "citation": f"{p.doc} › {p.section} (chars {p.start}–{p.end})",
        "previous": passages[0].id, "next": passages[2].id,
    }


def test_first_and_last_passages_have_no_neighbour_outside_the_document(client, retriever):
    passages = retriever.index.passages
    assert client.get(f"/passages/{passages[0].id}").json()["previous"] is None
    assert client.get(f"/passages/{passages[-1].id}").json()["next"] is None


def test_unknown_passage_is_404(client):
    response = client.get("/passages/nope")
    assert (response.status_code, response.json()) == (404, error(404, "no passage with id 'nope' in this index"))


def test_unknown_route_and_method_use_the_error_shape(client):
    response = client.get("/nowhere")
    assert (response.status_code, response.json()) == (
        404, error(404, "not found: the routes are /ask, /passages/{id}, /health, /docs and /"))
    response = client.delete("/ask")
    assert (response.status_code, response.json()) == (405, error(405, "method DELETE is not allowed on /ask"))


@pytest.mark.parametrize("method, path, allow", [
    ("PUT", "/ask", "GET, HEAD, POST"), ("DELETE", "/ask", "GET, HEAD, POST"), ("POST", "/health", "GET, HEAD"),
    ("POST", "/passages/abc", "GET, HEAD"), ("PATCH", "/", "GET, HEAD"),
])
def test_a_405_allows_every_method_of_every_route_at_the_path(client, method, path, allow):
    response = client.request(method, path)
    assert (response.status_code, response.headers["allow"], response.json()) == (
        405, allow, error(405, f"method {method} is not allowed on {path}"))


def test_head_answers_as_get_without_the_body(client, retriever):
    for path in ["/", "/health", f"/passages/{retriever.index.passages[0].id}", "/docs", "/openapi.json",
                 "/ask", "/ask?q=who+leads+the+talks&k=0", "/passages/nope", f"/ask?q={QUESTION}&k=1"]:
        got, head = client.get(path), client.head(path)
        assert (head.status_code, head.content) == (got.status_code, b""), path
        if path.startswith("/ask?q=Which"):  # took_ms may take another number of digits
            got.headers["content-length"] = head.headers["content-length"]
        assert head.headers == got.headers, path
    assert client.head("/nowhere").status_code == 404


def test_k_may_be_a_json_number_with_a_whole_value(client):
    """JSON Schema counts 52.0 as an integer, so the schema's "integer" takes it; 2.5 stays refused."""
    exact = without_timing(client.post("/ask", json={"question": QUESTION, "k": 3}).json())
    for k in (b"3.0", b"3e0", b"0.3e1"):
        response = client.post("/ask", content=b'{"question": "' + QUESTION.encode() + b'", "k": ' + k + b"}")
        assert response.status_code == 200 and without_timing(response.json()) == exact, k
    assert without_timing(client.get("/ask", params={"q": QUESTION, "k": "3.0"}).json()) == exact
    response = client.post("/ask", json={"question": QUESTION, "k": 100.0 + 1})
    assert response.json() == error(422, "k must be a whole number from 1 to 100, not 101")


def test_get_ask_parameters_are_documented_as_post_takes_them(client):
    parameters = {p["name"]: p["schema"] for p in client.get("/openapi.json").json()["paths"]["/ask"]["get"]["parameters"]}
    body = client.get("/openapi.json").json()["components"]["schemas"]["AskRequest"]["properties"]
    assert parameters["mode"] == {"type": "string", "enum": ["dense", "bm25", "hybrid"], "title": "Mode"}
    assert body["mode"]["enum"] == ["dense", "bm25", "hybrid", None]
    question = {key: body["question"][key] for key in ("minLength", "maxLength", "pattern")}
    assert {key: parameters["q"][key] for key in question} == question == {
        "minLength": 1, "maxLength": MAX_QUESTION_CHARS, "pattern": "[^\\s\\x1c-\\x1f\\x85]"}
    assert (parameters["k"]["minimum"], parameters["k"]["maximum"]) == (body["k"]["minimum"], body["k"]["maximum"])
    response = client.get("/ask", params={"q": QUESTION, "mode": ""})  # documented-invalid now: 422
    assert response.json() == error(422, "mode must be one of dense, bm25, hybrid, not ''")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8000", "localhost", "localhost:8000", "LocalHost.",
                                  "[::1]:8000", "::1", ""])  # "": no name, so no rebinding (HostCheck)
def test_loopback_host_names_are_answered(client, host):
    assert client.get("/health", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host, name", [("evil.example", "evil.example"), ("evil.example:8000", "evil.example"),
                                        ("127.0.0.2", "127.0.0.2"), ("localhost.evil.example", "localhost.evil.example"),
                                        ("testserver", "testserver")])
def test_other_host_names_are_400_a_guard_against_dns_rebinding(client, host, name):
    response = client.post("/ask", json={"question": QUESTION}, headers={"Host": host})
    assert (response.status_code, response.json()) == (400, error(
        400, f"this server does not answer to the host name {name!r} (a guard against DNS rebinding); "
             f"to allow it, start it with --allow-host {name}"))


def test_allowed_hosts_add_names_and_a_star_takes_any(retriever):
    with local(create_app(retriever, allowed_hosts=["qa.lan"])) as client:
        assert client.get("/health", headers={"Host": "QA.lan:8000"}).status_code == 200
        assert client.get("/health", headers={"Host": "127.0.0.1"}).status_code == 200
        assert client.get("/health", headers={"Host": "other.lan"}).status_code == 400
    with local(create_app(retriever, allowed_hosts=["*"])) as client:
        assert client.get("/health", headers={"Host": "anything.example"}).status_code == 200


def test_qa_serve_answers_to_its_host_and_to_any_name_on_a_wildcard_address():
    from qa.serve.server import host_names

    assert host_names("127.0.0.1") == ("127.0.0.1",)
    assert host_names("192.168.1.20", ["qa.lan"]) == ("192.168.1.20", "qa.lan")
    assert host_names("0.0.0.0") == host_names("::", ["qa.lan"]) == ("*",)


def test_page_and_docs_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<input id="q"' in page.text and "http" not in page.text.split("<script>")[0].split("<style>")[1]
    schema = client.get("/openapi.json").json()
    assert {"/ask", "/health", "/passages/{passage_id}"} <= set(schema["paths"])
    request = schema["components"]["schemas"]["AskRequest"]
    assert request["additionalProperties"] is False and request["examples"]
    assert schema["components"]["schemas"]["AskResponse"]["examples"]
    docs = client.get("/docs")
    assert docs.status_code == 200
    scripts = re.findall(r'src="([^"]+)"', docs.text)
    assert scripts and all(src.startswith("/") for src in scripts)  # no CDN: the page works offline
    assert all(client.get(src).status_code == 200 for src in scripts)


def test_request_model_is_strict():
    with pytest.raises(ValueError):
        AskRequest.model_validate({"question": "ok", "k": 3, "extra": 1})


# --- no index ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def degraded(tmp_path_factory):
    """An app whose index is missing and cannot be built: the corpus folder does not exist."""
    tmp = tmp_path_factory.mktemp("degraded")
    warnings = []
    app = create_app(tmp / "index", corpus=[tmp / "no-corpus"], warn=warnings.append)
    with local(app) as client:
        yield client, warnings


def test_no_index_health_is_503_unavailable(degraded, tmp_path_factory):
    client, warnings = degraded
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["passage_count"] is None
    assert "qa index" in body["message"] and "picked up without a restart" in body["message"]
    assert warnings[-1] == body["message"]


def test_no_index_ask_and_passages_are_503_saying_how_to_build_one(degraded):
    client, _ = degraded
    message = client.get("/health").json()["message"]
    for response in (client.post("/ask", json={"question": QUESTION}), client.get("/ask", params={"q": QUESTION}),
                     client.get("/passages/abc")):
        assert (response.status_code, response.json()) == (503, error(503, message))
    # bad input is still reported as bad input
    assert client.post("/ask", json={"question": ""}).status_code == 422
    assert client.get("/").status_code == 200


def test_a_rebuilt_index_that_cannot_be_loaded_leaves_the_loaded_one_serving(seed_index_dir, tmp_path,
                                                                               monkeypatch):
    import shutil

    import qa.serve.app

    monkeypatch.setattr(qa.serve.app, "RELOAD_CHECK_SECONDS", 0.0)  # look at every request
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
    warnings = []
    with local(create_app(index_dir, warn=warnings.append)) as client:
        before = client.post("/ask", json={"question": QUESTION, "k": 2}).json()
        broken = index_dir / "manifest.json.new"
        broken.write_text("{not json", encoding="utf-8")
        broken.replace(index_dir / "manifest.json")  # a new manifest, as a rebuild swaps one in
        after = client.post("/ask", json={"question": QUESTION, "k": 2})
        assert after.status_code == 200 and without_timing(after.json()) == without_timing(before)
        assert client.get("/health").json()["status"] == "ok"
    assert any("cannot be loaded" in w and "still serving the one loaded before" in w for w in warnings)


def _wide_sentence_vectors(index_dir) -> None:
    """Sentence vectors of a 768-dimension model beside 384-dimension passages (a mixed-up rebuild)."""
    import numpy as np

    vectors = np.load(index_dir / "sentence_vectors.npy")
    np.save(index_dir / "sentence_vectors.npy", np.zeros((len(vectors), 768), dtype=np.float32))


# what load_index itself cannot catch: files a build wrote consistently (their hashes recorded) but wrongly;
# sentence spans past the passages, which broke hybrid alone, are now refused at load
DAMAGES = {"wide sentence vectors": _wide_sentence_vectors}


def damaged_copy(seed_index_dir, index_dir, damage):
    """A copy of the seed index with `damage` done to it and its file hashes recorded again, as a buggy
    build would write it: `load_index` accepts it, only asking shows the damage."""
    import shutil

    from conftest import record_hashes_again
    from qa.store.index import load_index

    shutil.copytree(seed_index_dir, index_dir)
    DAMAGES[damage](index_dir)
    record_hashes_again(index_dir)
    load_index(index_dir)
    return index_dir


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_rebuilt_index_that_fails_a_probe_question_leaves_the_loaded_one_serving(seed_index_dir, tmp_path,
                                                                                    monkeypatch, damage):
    import shutil

    import qa.serve.app

    monkeypatch.setattr(qa.serve.app, "RELOAD_CHECK_SECONDS", 0.0)
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
    warnings = []
    with local(create_app(index_dir, warn=warnings.append)) as client:
        before = client.post("/ask", json={"question": QUESTION, "k": 2}).json()
        health = client.get("/health").json()
        rebuilt = damaged_copy(seed_index_dir, tmp_path / "index.new", damage)
        index_dir.rename(tmp_path / "index.old")  # swapped in whole, as `qa index` does
        rebuilt.rename(index_dir)
        for mode in ("dense", "bm25", "hybrid"):
            after = client.post("/ask", json={"question": QUESTION, "k": 2, "mode": mode})
            assert after.status_code == 200
        after = client.post("/ask", json={"question": QUESTION, "k": 2})
        assert without_timing(after.json()) == without_timing(before)
        assert client.get("/health").json() == health
    refused = [w for w in warnings if "fails a probe question" in w]
    assert len(refused) == 1 and refused[0].startswith(f"the index at {index_dir}/ cannot be loaded (it loads ")
    assert refused[0].endswith("; still serving the one loaded before")


def test_an_index_that_fails_a_probe_question_at_start_up_is_503(seed_index_dir, tmp_path):
    index_dir = damaged_copy(seed_index_dir, tmp_path / "index", "wide sentence vectors")
    warnings = []
    with local(create_app(index_dir, warn=warnings.append)) as client:
        health = client.get("/health")
        ask = client.post("/ask", json={"question": QUESTION})
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    message = health.json()["message"]
    assert message.startswith(f"no index could be loaded from {index_dir}/ (it loads but fails a probe question "
                              f"(ValueError: matmul")
    assert message.endswith(f"build one with `qa index CORPUS_FOLDER --index-dir {index_dir}`: "
                            f"it is picked up without a restart")
    assert (ask.status_code, ask.json()) == (503, error(503, message))
    assert warnings == [message]


# --- the batcher -------------------------------------------------------------------------------------


class SlowFake:
    """Stands in for a Retriever: answers (question, k, mode) slowly and records each batch."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.running = 0

    def search(self, questions, k, mode=None):
        import time

        self.running += 1
        assert self.running == 1, "two searches ran at once"
        self.batches.append(list(questions))
        time.sleep(0.02)
        self.running -= 1
        if "bad" in questions:
            raise ValueError("bad question")
        return [(q, k, mode) for q in questions]


def test_batcher_answers_each_request_with_its_own_answer_in_batches():
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from qa.serve.batching import Batcher

    fake = SlowFake()
    entered, gate = threading.Event(), threading.Event()
    original = fake.search

    def search(questions, k, mode=None):
        if questions == ["first"]:
            entered.set()
            gate.wait(10)  # hold the lock until every other request is queued
        return original(questions, k, mode)

    fake.search = search
    batcher = Batcher(fake, max_batch=4)
    jobs = [(f"q{n}", 1 + n % 3, ("dense", None)[n % 2]) for n in range(40)]
    with ThreadPoolExecutor(max_workers=41) as pool:
        first = pool.submit(batcher.ask, "first", 1, None)
        assert entered.wait(10)
        futures = [pool.submit(batcher.ask, *job) for job in jobs]
        deadline = time.monotonic() + 10
        while len(batcher._queue) < len(jobs) and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(batcher._queue) == len(jobs)
        gate.set()
        results = [f.result(timeout=30) for f in futures]
    assert first.result() == ("first", 1, None)
    assert results == jobs
    assert fake.batches[0] == ["first"]
    sizes = [len(b) for b in fake.batches[1:]]
    assert max(sizes) > 1 and all(size <= 4 for size in sizes)  # queued requests shared searches
    assert sorted(q for b in fake.batches[1:] for q in b) == sorted(q for q, _, _ in jobs)  # each asked once


def test_batcher_keeps_one_bad_question_from_failing_the_others():
    from concurrent.futures import ThreadPoolExecutor

    from qa.serve.batching import Batcher

    batcher = Batcher(SlowFake())
    questions = ["a", "bad", "b", "c", "bad", "d"]

    def ask(question):
        try:
            return batcher.ask(question, 5, None)
        except ValueError as error:
            return str(error)

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(ask, questions))
    assert results == [("a", 5, None), "bad question", ("b", 5, None), ("c", 5, None), "bad question",
                       ("d", 5, None)]


def test_batcher_does_not_batch_a_quantized_model():
    from types import SimpleNamespace

    from qa.serve.batching import Batcher

    fake = SlowFake()
    fake.embedder = SimpleNamespace(quantized=True)
    assert Batcher(fake).max_batch == 1
    fake.embedder = SimpleNamespace(quantized=False)
    assert Batcher(fake).max_batch == 32
