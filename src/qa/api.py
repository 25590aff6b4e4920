"""The HTTP API and the ask page: a FastAPI app over one Retriever, loaded once at start-up.

`create_app(retriever_or_index_dir)` builds the app; `serve(...)` runs it under uvicorn (`qa serve`).

- `POST /ask` {"question", "k", "mode"} and `GET /ask?q=&k=&mode=` answer with the object
  `qa ask --json` prints, plus `took_ms` (both come from `Answer.to_dict`).
- `GET /health`, `GET /passages/{id}`, `GET /` (the ask page), `/docs` (OpenAPI).
- Every error, whatever its source, is `{"error": {"status": <int>, "message": <str>}}`; no input is a
  500, and an error, a real 500 included, leaves a keep-alive connection open (`CatchAll`).
- HEAD works on every GET route; only loopback Host names and the allowed ones are answered (`HostCheck`);
  a request must arrive within 10 s and an idle connection is closed after 5 s (`serve`).
- No index and none can be built: the server still starts; `/health` answers 503 with
  `"status": "unavailable"` and the reason, and `/ask` and `/passages` answer 503 saying how to build one.
- An index folder rebuilt by `qa index` while the server runs (or built after it started) is picked
  up by the next request: its manifest is checked at most once a second, with no restart.
- An index is served only once it answers the probe questions in every mode: a rebuilt one that fails
  them leaves the loaded one serving; at start-up, the server starts in the 503 mode and says why.
- Retrieval is CPU-bound and the tokenizer is not safe to share between threads, so endpoints are
  plain `def` (run in the threadpool) and calls into the retriever are serialized by one lock;
  questions that arrive meanwhile are answered together in one batch (see `Batcher`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import threading
import time
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Optional

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import WithJsonSchema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from . import __version__
from .api_models import (
    ERRORS,
    EXAMPLE_QUESTION,
    LENIENT_CONTENT_TYPE,
    MAX_BODY_BYTES,
    QUESTION_SCHEMA,
    AskRequest,
    AskResponse,
    ErrorBody,
    Health,
    PassageDetail,
)
from .batching import Batcher
from .errors import QAError
from .index import MANIFEST, load_index
from .retrieval import (
    MAX_K,
    MAX_QUESTION_CHARS,
    MODES,
    Retriever,
    check_k,
    check_mode,
    check_question,
)

log = logging.getLogger("qa.api")

Warn = Callable[[str], None]


# ---------------------------------------------------------------------------------------------------
# The app


RELOAD_CHECK_SECONDS = 1.0  # how often a request may look whether the index folder was rebuilt


class _State:
    """What the app serves from: a retriever, or the reason there is none. Over an index folder
    (`index_dir`), a rebuilt index replaces the loaded one (`refresh`)."""

    def __init__(self, index_dir: Path | None = None, model: str | None = None,
                 corpus: list[Path] | None = None, warn: Warn | None = None) -> None:
        self.retriever: Retriever | None = None
        self.batcher: Batcher | None = None
        self.unavailable: str | None = "the index is still loading: try again in a moment"
        self.neighbours: dict[str, tuple[str | None, str | None]] = {}
        self.index_dir, self.model, self.corpus, self.warn = index_dir, model, corpus, warn
        self.loaded_stamp = _stamp(index_dir)
        self._next_check = 0.0
        self._reloading = threading.Lock()

    def ready(self, retriever: Retriever) -> None:
        """Serve from `retriever`, or a QAError when it fails the probe questions (see `_probe`)."""
        failure = _probe(retriever)
        if failure is not None:
            raise QAError(f"it loads but fails a probe question ({failure})", status=503)
        neighbours = {}
        passages = retriever.index.passages
        for i, p in enumerate(passages):
            before = passages[i - 1].id if i > 0 and passages[i - 1].doc == p.doc else None
            after = passages[i + 1].id if i + 1 < len(passages) and passages[i + 1].doc == p.doc else None
            neighbours[p.id] = (before, after)
        self.neighbours = neighbours
        self.batcher = Batcher(retriever)
        self.retriever = retriever
        self.unavailable = None

    def open(self) -> None:
        """Open the index folder (building it from `corpus` when missing or stale), or say why not."""
        try:
            self.ready(Retriever.open(self.index_dir, corpus=self.corpus, model=self.model, warn=self.warn))
            self.loaded_stamp = _stamp(self.index_dir)  # the index Retriever.open built, if it built one
        except Exception as error:  # noqa: BLE001 - whatever breaks, the server starts and says why
            self.unavailable = (f"no index could be loaded from {self.index_dir}/ ({_reason(error)}); "
                                f"build one with `qa index CORPUS_FOLDER --index-dir {self.index_dir}`: "
                                f"it is picked up without a restart")
            if self.warn:
                self.warn(self.unavailable)

    def require(self) -> Retriever:
        self.refresh()
        if self.retriever is None:
            raise QAError(self.unavailable or "no index is loaded", status=503)
        return self.retriever

    def refresh(self) -> None:
        """Load the index folder again when its manifest changed since it was loaded (`qa index` swaps a
        rebuilt index in whole, manifest last), at most once a second, never rebuilding it here. A
        rebuilt index that cannot be loaded, or loads but fails the probe questions, leaves the loaded one
        serving, with a warning."""
        if self.index_dir is None or time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + RELOAD_CHECK_SECONDS
        stamp = _stamp(self.index_dir)
        if stamp is None or stamp == self.loaded_stamp or not self._reloading.acquire(blocking=False):
            return  # no index there, the loaded one, or another request is loading it
        try:
            self.loaded_stamp = stamp
            self.ready(Retriever.load(self.index_dir, self.model, self.warn))
            if self.warn:
                count = len(self.retriever.index.passages)
                self.warn(f"loaded the rebuilt index at {self.index_dir}/ ({count} passages)")
        except Exception as error:  # noqa: BLE001 - a broken rebuild must not break the serving index
            if self.retriever is None:
                self.unavailable = f"the index at {self.index_dir}/ cannot be loaded: {_reason(error)}"
            if self.warn:
                self.warn(f"the index at {self.index_dir}/ cannot be loaded ({_reason(error)})"
                          + ("; still serving the one loaded before" if self.retriever else ""))
        finally:
            self._reloading.release()


# One question of each kind the retriever answers differently (a role, a year, a number), asked in
# every mode: an index can load (its files intact, as a faulty build wrote them) and still break in
# one mode only, or only when the answer is sent (a NaN score is not JSON).
PROBE_QUESTIONS = ["who leads the talks?", "when did the talks start?", "how many countries take part?"]


def _probe(retriever: Retriever) -> str | None:
    """Why `retriever` cannot answer /ask, or None when it answers the probe questions in every mode."""
    try:
        for mode in MODES:
            for answer in retriever.search(PROBE_QUESTIONS, MAX_K, mode):
                JSONResponse(answer.to_dict(timing=True))  # rendered as /ask renders it
    except Exception as error:  # noqa: BLE001 - any failure means the index cannot serve
        log.warning("the index fails a probe question", exc_info=True)
        return _reason(error)
    return None


def _reason(error: Exception) -> str:
    """An exception as one line for a warning or /health: a QAError's message, else its type and text."""
    if isinstance(error, QAError):
        return error.message
    text = f"{type(error).__name__}: {error}".splitlines()[0]
    return text if len(text) <= 160 else text[:157] + "..."


def _stamp(index_dir: Path | None) -> tuple[int, int] | None:
    """What tells one build of the index at `index_dir` from the next: its manifest's inode and mtime."""
    try:
        info = (Path(index_dir) / MANIFEST).stat() if index_dir is not None else None
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns) if info else None


def create_app(
    source: Retriever | str | Path,
    *,
    model: str | None = None,
    corpus: list[Path] | None = None,
    warn: Warn | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    on_ready: Callable[[Retriever], None] | None = None,
    allowed_hosts: Iterable[str] = (),
) -> FastAPI:
    """The API over `source`: a ready Retriever, or an index folder opened once at start-up.

    Requests are answered only when their Host header names a loopback name or one of `allowed_hosts`
    ("*" for any host): see `HostCheck`.

    An index folder is opened with `Retriever.open` (built from `corpus` when missing or stale). When that
    fails, or the index fails the probe questions, the app still starts and reports why on /health (503)
    and on every retrieval route.
    """
    state = _State() if isinstance(source, Retriever) else _State(Path(source), model, corpus, warn)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if isinstance(source, Retriever):
            try:
                state.ready(source)
            except QAError as error:
                state.unavailable = f"the index cannot answer: {error.message}"
        else:
            state.open()  # the probe questions in `ready` also warm the model up for the first request
        if state.retriever is not None and on_ready:
            on_ready(state.retriever)
        yield

    # FastAPIOffline serves Swagger UI's files itself: /docs works with no network (FastAPI's loads a CDN).
    app = FastAPIOffline(
        title="qa",
        version=__version__,
        summary="Ask questions of your documents; answers are cited passages.",
        description="Local question answering over a folder of .txt and .md files. "
                    "Every error is `{\"error\": {\"status\": ..., \"message\": ...}}`.",
        lifespan=lifespan,
        **LENIENT_CONTENT_TYPE,
    )
    app.state.qa = state
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(HeadAsGet)
    app.add_middleware(HostCheck, allowed=allowed_hosts)  # before anything else reads the request
    app.add_middleware(CatchAll)  # added last: the outermost of ours, so it catches what the others raise
    _add_error_handlers(app)
    page = _page()

    @app.post("/ask", response_model=AskResponse, responses=ERRORS, summary="Ask a question")
    def ask_post(request: AskRequest) -> JSONResponse:
        """The top-k cited passages for the question, best first (what `qa ask --json` prints)."""
        return _answer(state, request.question, request.k, request.mode)

    @app.get("/ask", response_model=AskResponse, responses=ERRORS, summary="Ask a question (GET)")
    def ask_get(
        q: str = Query(description="The question.", examples=[EXAMPLE_QUESTION], json_schema_extra=QUESTION_SCHEMA),
        k: int = Query(5, ge=1, le=MAX_K, description=f"How many passages to return (1-{MAX_K})."),
        # documented with the POST body's enum, so ?mode= (empty) is documented-invalid, as it is
        mode: Annotated[Optional[str], Query(description=f"Retrieval mode: {', '.join(MODES)}."),
                        WithJsonSchema({"type": "string", "enum": list(MODES)})] = None,
    ) -> JSONResponse:
        """The same as `POST /ask`, for links and curl: `/ask?q=who+leads+the+talks&k=3`."""
        return _answer(state, q, k, mode)

    @app.get("/health", response_model=Health, responses={503: {"model": Health}}, summary="Health")
    def health() -> JSONResponse:
        """"ok" with the index's passage count, model and build time; 503 "unavailable" with the reason."""
        state.refresh()
        retriever = state.retriever
        if retriever is None:
            body = {"status": "unavailable", "passage_count": None, "model": None, "built_at": None,
                    "version": __version__, "message": state.unavailable}
            return JSONResponse(body, status_code=503)
        manifest = retriever.index.manifest
        return JSONResponse({"status": "ok", "passage_count": len(retriever.index.passages),
                             "model": manifest.get("model"), "built_at": manifest.get("built_at"),
                             "version": __version__, "message": None})

    @app.get("/passages/{passage_id}", response_model=PassageDetail,
             responses={404: {"model": ErrorBody, "description": "No passage has that id"}, 503: ERRORS[503]},
             summary="One passage")
    def passage(passage_id: str) -> JSONResponse:
        """One passage with its citation and the ids of the passages before and after it in its document."""
        retriever = state.require()
        row = retriever.index.passage_by_id().get(passage_id)
        if row is None:
            raise QAError(f"no passage with id {passage_id!r} in this index", status=404)
        p = retriever.index.passages[row]
        before, after = state.neighbours.get(p.id, (None, None))
        citation = f"{p.doc} › {p.section} (chars {p.start}–{p.end})"
        return JSONResponse(asdict(PassageDetail(**p.to_dict(), citation=citation, previous=before, next=after)))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index_page() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    return app


def _answer(state: _State, question: str, k: int, mode: str | None) -> JSONResponse:
    check_question(question)
    check_k(k)
    check_mode(mode)
    state.require()
    return JSONResponse(state.batcher.ask(question, k, mode).to_dict(timing=True))


def _page() -> str:
    try:
        return resources.files("qa").joinpath("static/index.html").read_text(encoding="utf-8")
    except OSError:  # pragma: no cover - a broken install
        return "<!doctype html><title>qa</title><p>The ask page is missing from this install; use /docs.</p>"


# ---------------------------------------------------------------------------------------------------
# Errors: one JSON shape for all of them, a message a person understands, never a traceback


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status, headers=headers)


_STATUS_MESSAGES = {
    404: "not found: the routes are /ask, /passages/{id}, /health, /docs and /",
    405: "method not allowed",
}


def _add_error_handlers(app: FastAPI) -> None:
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


class CatchAll:
    """ASGI middleware: an exception from anything inside is answered with the JSON 500, and ends there.

    Not an `Exception` handler: Starlette runs those in ServerErrorMiddleware, which re-raises after
    answering, and uvicorn then closes the connection, so a keep-alive client's next request failed too.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = {"start": False, "end": False}

        async def watched(message) -> None:
            if message["type"] == "http.response.start":
                sent["start"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                sent["end"] = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
            if sent["start"] and not sent["end"]:
                raise  # half a response is out: only closing the connection can end it
            if not sent["start"]:
                await error_response(500, "internal error: the server's log has the details")(scope, receive, send)


class HeadAsGet:
    """ASGI middleware: HEAD on a GET route runs the GET and sends its status and headers, not its body.

    FastAPI's routes take only the methods they name, so HEAD was a 405 even where GET works.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or not _has_get_route(scope):
            await self.app(scope, receive, send)
            return

        async def headers_only(message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def _has_get_route(scope) -> bool:
    get = {**scope, "method": "GET"}
    return any(route.matches(get)[0] is Match.FULL for route in scope["app"].router.routes)


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


class HostCheck:
    """ASGI middleware: 400 for a request whose Host header names neither a loopback name nor an allowed one.

    A server on a laptop must not answer a page that DNS rebinding has pointed at 127.0.0.1 under its own
    name (evil.example resolving to 127.0.0.1): the browser then sends `Host: evil.example`. The port
    is not checked; "*" among `allowed` takes any host (`qa serve --host 0.0.0.0` means every name).
    """

    def __init__(self, app, allowed: Iterable[str] = ()) -> None:
        self.app = app
        names = [*LOOPBACK_HOSTS, *allowed]
        self.allowed = None if "*" in names else {_host_name(name) for name in names}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and self.allowed is not None:
            host = next((value for name, value in scope.get("headers", ()) if name == b"host"), None)
            # a browser always sends the name it resolved, so no Host (HTTP/1.0) or an empty one cannot
            # be a rebinding: such requests are answered
            name = _host_name(host.decode("latin-1")) if host else ""
            if name and name not in self.allowed:
                message = (f"this server does not answer to the host name {name!r} (a guard against DNS "
                           f"rebinding); to allow it, start it with --allow-host {name}")
                await error_response(400, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _host_name(host: str) -> str:
    """The name in a Host header value or an address, without port, brackets or trailing dot, lower case."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8000
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:  # name:port (a bare IPv6 address has more colons)
        host = host.split(":", 1)[0]
    return host.rstrip(".")


class BodyLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, by Content-Length or as it streams in.

    The body (at most `max_bytes`) is read before the app runs and replayed to it, so an over-long
    chunked body is refused before any handler has seen a byte of it.
    """

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = error_response(413, f"the request body is over {self.max_bytes // 1024} KiB; "
                                        f"questions are at most {MAX_QUESTION_CHARS} characters")
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await error_response(400, "the Content-Length header is not a number")(scope, receive, send)
                    return
                if declared > self.max_bytes:
                    await too_large(scope, receive, send)
                    return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# ---------------------------------------------------------------------------------------------------
# `qa serve`


KEEP_ALIVE_SECONDS = 5  # how long an idle keep-alive connection stays open after a response
REQUEST_SECONDS = 10.0  # how long a request (request line, headers and body) may take to arrive
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def serve(
    index_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    model: str | None = None,
    warn: Warn | None = None,
    log_level: str = "warning",
    allowed_hosts: Iterable[str] = (),
    request_timeout: float = REQUEST_SECONDS,
) -> None:
    """Run the API under uvicorn until interrupted (Ctrl-C).

    Requests must name a loopback host, `host` or one of `allowed_hosts` ("*": any) in their Host header;
    bound to a wildcard address (0.0.0.0, ::) the server answers to any name.
    """
    _check_port(host, port)  # before the model loads: a taken port is said at once, not after a minute
    where = f"http://{host}:{port}/"

    def announce(retriever: Retriever) -> None:
        if warn:
            warn(f"serving {len(retriever.index.passages)} passages on {where} (API docs: {where}docs)")

    app = create_app(Path(index_dir), model=model, warn=warn, on_ready=announce,
                     allowed_hosts=host_names(host, allowed_hosts))
    server(app, host, port, log_level, request_timeout=request_timeout).run()


def host_names(host: str, allowed_hosts: Iterable[str] = ()) -> tuple[str, ...]:
    """The Host names a server bound to `host` answers to besides the loopback ones ("*": any name)."""
    return ("*",) if host in WILDCARD_HOSTS else (host, *allowed_hosts)


def server(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning",
           request_timeout: float = REQUEST_SECONDS, keep_alive_timeout: int = KEEP_ALIVE_SECONDS):
    """The uvicorn server `qa serve` runs `app` under (`.run()` serves until interrupted)."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                            http=_timed_protocol(request_timeout), timeout_keep_alive=keep_alive_timeout)
    return uvicorn.Server(config)


def _timed_protocol(request_timeout: float) -> type:
    """uvicorn's httptools protocol, closing a connection whose request takes over `request_timeout` s to arrive.

    uvicorn times out only a connection idle after a response (timeout_keep_alive): one that connects and
    sends nothing, or half a request (slowloris, a stalled client), was held open for ever.
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class TimedHttpToolsProtocol(HttpToolsProtocol):
        _timer = None
        _in_headers = False  # the request line and headers have begun and not yet ended

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()  # from the connection on: the first request, or nothing at all, must come in time

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_headers = True
            if self._timer is None:  # a later request on a kept-alive connection
                self._arm()

        def on_headers_complete(self) -> None:
            self._in_headers = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._timer = self.loop.call_later(request_timeout, self._timed_out)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _timed_out(self) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            if self._in_headers:  # no response has begun: say why before closing (RFC 9110 408)
                body = (b'{"error": {"status": 408, "message": "the request did not arrive within '
                        + f"{request_timeout:g}".encode() + b' s"}}')
                head = [b"HTTP/1.1 408 Request Timeout\r\n"]
                head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
                head += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body),
                         b"connection: close\r\n\r\n"]
                self.transport.write(b"".join(head) + body)
            self.transport.close()

    return TimedHttpToolsProtocol


def _check_port(host: str, port: int) -> None:
    """A QAError when `host:port` cannot be listened on (taken, or not an address of this machine)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise QAError(f"cannot listen on {host!r}: {exc.strerror}", status=400) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            hint = "choose another with --port" if exc.errno == errno.EADDRINUSE else "check --host and --port"
            raise QAError(f"cannot listen on {host}:{port}: {exc.strerror} ({hint})", status=400) from None
