"""What counts as a question's text: lone surrogates are refused (422), control characters are text.

The property tests feed any Unicode text, lone surrogates and control characters mixed in, to
`check_question`, `Retriever.ask` and POST /ask: a 200 or a 422 in the one error shape, never a 500.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.errors import QAError
from qa.search.retrieval import MAX_QUESTION_CHARS, Question, check_question

# st.characters() never yields a surrogate: they are mixed in, as are control characters and white space
CHARACTERS = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.characters(categories=["Cc"]),
                       st.sampled_from(" \t\n\x0b\x0c\r\x1c\x85\xa0\u2028\u3000\ufeff"))
TEXTS = st.one_of(st.text(CHARACTERS, max_size=40), st.text(CHARACTERS, min_size=MAX_QUESTION_CHARS - 2,
                                                            max_size=MAX_QUESTION_CHARS + 2))
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def refusal(question: str) -> str | None:
    """The message check_question must refuse `question` with, by the rules, or None to accept it."""
    if not question.strip():
        return "the question is empty: ask something, e.g. qa ask \"who leads the talks?\""
    if len(question) > MAX_QUESTION_CHARS:
        return f"the question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}"
    surrogates = [c for c in question if "\ud800" <= c <= "\udfff"]
    if surrogates:
        return (f"the question holds characters that are not valid text (U+{ord(surrogates[0]):04X}); "
                f"send it as UTF-8")
    return None


@PROPERTY
@given(question=TEXTS)
def test_check_question_accepts_text_and_refuses_the_rest_with_a_422(question):
    expected = refusal(question)
    try:
        assert check_question(question) == question.strip() and expected is None
    except QAError as error:
        assert (error.status, error.message) == (422, expected)


@PROPERTY
@given(question=st.text(CHARACTERS, max_size=60))
def test_ask_answers_any_text_or_refuses_it_with_a_422(retriever, question):
    try:
        answer = retriever.ask(question, 2)
    except QAError as error:
        assert (error.status, error.message) == (422, refusal(question))
        return
    assert refusal(question) is None and answer.question == question.strip()
    json.dumps(answer.to_dict(), allow_nan=False).encode("utf-8")  # what /ask sends can be sent


@pytest.fixture(scope="module")
def client(retriever):
    from test_api import local

    from qa.serve.app import create_app

    with local(create_app(retriever)) as client:
        yield client


ANY_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(CHARACTERS, max_size=8),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                    max_size=3), max_leaves=6)


@PROPERTY
@given(question=st.text(CHARACTERS, max_size=60), k=st.one_of(st.integers(-3, 120), ANY_JSON),
       mode=st.one_of(st.sampled_from([None, "dense", "bm25", "hybrid"]), ANY_JSON))
def test_post_ask_is_a_200_or_a_422_in_the_error_shape(client, question, k, mode):
    # json.dumps escapes a lone surrogate as \ud800, as a client in any language may send it
    body = json.dumps({"question": question, "k": k, "mode": mode}, ensure_ascii=True).encode()
    response = client.post("/ask", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert response.json()["question"] == question.strip()
    else:
        error = response.json()["error"]
        assert set(response.json()) == {"error"} and set(error) == {"status", "message"}
        assert error["status"] == 422 and error["message"]


@PROPERTY
@given(body=st.binary(max_size=200))
def test_post_ask_answers_any_bytes_without_a_500(client, body):
    response = client.post("/ask", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert response.json()["error"]["status"] == 422


@pytest.mark.parametrize("question, code", [("\ud800 who", "D800"), ("who \udcff\udcfe leads", "DCFF"),
                                            ("\udfff", "DFFF")])
def test_check_question_refuses_lone_surrogates(question, code):
    with pytest.raises(QAError) as raised:
        check_question(question)
    assert (raised.value.status, raised.value.message) == (
        422, f"the question holds characters that are not valid text (U+{code}); send it as UTF-8")


def test_check_question_accepts_control_characters_and_astral_text():
    assert check_question(" who\x00 leads\x01\x1b the \U0001f600 talks?\n") == "who\x00 leads\x01\x1b the \U0001f600 talks?"


def test_cli_refuses_argv_that_is_not_utf8(seed_index_dir):
    """`qa ask $'who \\xff\\xfe leads'`: Python decodes the bytes to lone surrogates (surrogateescape)."""
    done = subprocess.run([sys.executable, "-m", "qa.cli", "ask", b"who \xff\xfe leads", "--index-dir",
                           str(seed_index_dir)], capture_output=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr.decode()) == (
        2, b"", "Error: the question holds characters that are not valid text (U+DCFF); send it as UTF-8\n")


def test_a_question_is_checked_once_where_it_comes_in():
    """POST /ask's body model checks the question and hands on a Question, which the app and the retriever
    take as it is (retrieval.Question); a plain string is checked wherever it arrives."""
    from qa.serve.models import AskRequest

    checked = AskRequest(question="  who leads the talks?\n").question
    assert isinstance(checked, Question) and checked == "who leads the talks?"
    assert check_question(checked) is checked
    with pytest.raises(QAError, match="empty"):
        check_question("   ")
