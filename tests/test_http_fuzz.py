"""Schemathesis over the app's own OpenAPI schema, in process: every check, a few hundred cases in all."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.generation import GenerationMode

from qa.serve.app import create_app

pytestmark = pytest.mark.slow  # 280 schemathesis cases: ~10 s

EXAMPLES = 40  # per operation and mode: 5 operations positive, 2 negative, so 280 cases


@pytest.fixture(scope="module")
def api_schema(retriever):
    # schemathesis' ASGI client sends Host: testserver, which the app refuses unless told otherwise
    app = create_app(retriever, allowed_hosts=["testserver"])
    with TestClient(app):  # runs the lifespan: the retriever is served only after it
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def all_checks() -> list:
    load_all_checks()
    return list(CHECKS.get_all())


# Not `@schema.parametrize()` over `schemathesis.pytest.from_fixture`: with pytest 9 it fails on the
# node's missing `_nodeid`; the operations' strategies run the same cases under plain `given`.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_its_schema_says(api_schema, mode):
    checks = all_checks()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == {
        ("POST", "/ask"), ("GET", "/ask"), ("GET", "/health"), ("GET", "/passages/{passage_id}"),
        ("GET", "/documents/{doc}/text")}
    cannot_be_invalid = set()
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def conforms(case):
            case.call_and_validate(checks=checks)

        try:
            conforms()
        except Unsatisfiable:
            cannot_be_invalid.add(operation.label)
    # no input to make invalid (/health), or every invalid one is a valid string once in the path (a
    # document's text has ?start=&end=, which can be invalid)
    assert cannot_be_invalid == (set() if mode is GenerationMode.POSITIVE else
                                 {"GET /health", "GET /passages/{passage_id}"})
