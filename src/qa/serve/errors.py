"""API errors: one JSON shape for every error, with a message a person understands, never a traceback."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ..errors import QAError
from ..search.retrieval import MAX_K

def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status, headers=headers)


_STATUS_MESSAGES = {
    404: "not found: the routes are /ask, /passages/{id}, /health, /docs and /",
    405: "method not allowed",
}


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(QAError)
    async def qa_error(request: Request, error: QAError) -> JSONResponse:
        return error_response(error.status, error.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        messages = []
        for problem in error.errors():
            message = validation_message(problem)
            if message not in messages:
                messages.append(message)
        return error_response(422, "; ".join(messages) or "the request is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == "There was an error parsing the body":
            return error_response(422, "the request body is not valid JSON (is it UTF-8?)")
        message = _STATUS_MESSAGES.get(error.status_code) if error.detail in (None, "Not Found",
                                                                               "Method Not Allowed") else None
        headers = getattr(error, "headers", None)
        if error.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return error_response(error.status_code, message or str(error.detail), headers)


def _allowed_methods(request: Request) -> str:
    """Every method some route at the request's path takes (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if route.matches(request.scope)[0] is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    if "GET" in methods:
        methods.add("HEAD")  # see HeadAsGet
    return ", ".join(sorted(methods))


_FIELDS = "question, k and mode"


def validation_message(problem: dict) -> str:
    """A sentence a person understands for one pydantic/FastAPI validation error."""
    kind = problem.get("type", "")
    loc = [str(part) for part in problem.get("loc", ()) if part not in ("body", "query", "path")]
    field = loc[-1] if loc else ""
    value = problem.get("input")
    shown = _shown(value)
    if kind == "json_invalid":
        return f"the request body is not valid JSON ({problem.get('ctx', {}).get('error', 'decode error')})"
    if not field or field.isdigit():
        if kind == "model_attributes_type" and not isinstance(value, (dict, list, str, int, float, bool)):
            return ('the request body must be JSON sent with Content-Type: application/json, '
                    'e.g. {"question": "who leads the talks?", "k": 5}')
        if kind in ("model_attributes_type", "dict_type", "model_type", "missing"):
            return 'the request body must be a JSON object, e.g. {"question": "who leads the talks?", "k": 5}'
    if kind == "missing":
        if field == "q":
            return "the question is missing: ask with /ask?q=your+question"
        return f"{field} is missing: send a JSON object like {{\"question\": \"who leads the talks?\"}}"
    if kind == "extra_forbidden":
        return f"unknown field {field!r}: the fields are {_FIELDS}"
    if field == "k" and (kind.startswith("int_") or kind in ("greater_than_equal", "less_than_equal")):
        if kind in ("greater_than_equal", "less_than_equal") and isinstance(value, str):
            shown = value  # a query string's number, out of range: shown as the number it is
        return f"k must be a whole number from 1 to {MAX_K}, not {shown}"
    if kind in ("string_type", "str_type"):
        return f"{field} must be a string, not {shown}"
    if kind == "value_error":
        return str(problem.get("msg", "")).removeprefix("Value error, ")
    return f"{field or 'request'}: {problem.get('msg', 'invalid')}"


def _shown(value: Any) -> str:
    import json

    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
