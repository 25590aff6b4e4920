"""The HTTP API and the ask page: a FastAPI app over one Retriever, loaded once at start-up.

`create_app(retriever_or_index_dir)` builds the app; `server.serve(...)` runs it under uvicorn (`qa serve`);
errors are `api_errors`', the middleware around it `api_guards`'.

- `POST /ask` {"question", "k", "mode"} and `GET /ask?q=&k=&mode=` answer with the object
  `qa ask --json` prints, plus `took_ms` (both come from `Answer.to_dict`).
- `GET /health`, `GET /passages/{id}`, `GET /documents/{doc}/text` (streamed; `?start=&end=` for a
  span), `GET /` (the ask page), `/docs` (OpenAPI).
- With API keys (`keys`): `Authorization: Bearer KEY` on all but /health, the page and /docs, a
  request limit per key (serve/auth.py, docs/security.md).
- An index folder is served from a private copy, so nothing truncating its files can crash the
  server (serve/snapshot.py).
- Every error, whatever its source, is `{"error": {"status": <int>, "message": <str>}}`; no input is a
  500, and an error, a real 500 included, leaves a keep-alive connection open (`CatchAll`).
- HEAD works on every GET route; only loopback Host names and the allowed ones are answered (`HostCheck`);
  a request must arrive within 10 s and an idle connection is closed after 5 s (`serve`).
- No index and none can be built: the server still starts; `/health` answers 503 with
  `"status": "unavailable"` and the reason, and `/ask` and `/passages` answer 503 saying how to build one.
- Over a remote store (Qdrant, `wiring.is_remote`): when the collection cannot be opened at
  start-up (the server unreachable, the collection not built yet), the server starts all the same,
  answers 503 (`/health`: `"store": "qdrant"`, `"reachable": false` when nothing answered) and tries
  again once a second in the background until it opens.
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
import dataclasses
import threading
import time
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Annotated, Callable, Iterable, Optional

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi_offline import FastAPIOffline
from pydantic import WithJsonSchema

from .. import __version__
from .models import (
    ASK_ERRORS,
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
from .errors import add_error_handlers
from .guards import BodyLimit, CatchAll, HeadAsGet, HostCheck
from .auth import DEFAULT_RATE, BearerAuth
from .batching import Batcher
from .keys import Keys
from .probe import _probe, _reason, _stamp
from .snapshot import Snapshots
from .texts import text_pieces
from .. import wiring
from ..config import Settings
from ..errors import QAError, Unreachable
from ..store.local.index import load_index
from ..search.rerank import RERANKERS, check_reranker
from ..search.retrieval import (
    MAX_K,
    MODES,
    Retriever,
    check_k,
    check_mode,
    check_question,
)

Warn = Callable[[str], None]


# ---------------------------------------------------------------------------------------------------
# The app


RELOAD_CHECK_SECONDS = 1.0  # how often a request may look whether the index folder was rebuilt
CONNECT_RETRY_SECONDS = 1.0  # how often the collection is tried again while it cannot be opened


class _State:
    """What the app serves from: a retriever, or the reason there is none. Over an index folder
    (`index_dir`), a rebuilt index replaces the loaded one (`refresh`); a remote store is opened again
    every second until it opens (`keep_connecting`), with the embedder loaded once, here: a bad model
    is said at start-up."""

    def __init__(self, settings: Settings | None = None, corpus: list[Path] | None = None,
                 warn: Warn | None = None) -> None:
        self.retriever: Retriever | None = None
        self.batcher: Batcher | None = None
        self.unavailable: str | None = "the index is still loading: try again in a moment"
        self.settings, self.corpus, self.warn = settings, corpus, warn
        self.remote = settings is not None and wiring.is_remote(settings)
        self.index_dir = settings.index_dir if settings is not None and not self.remote else None
        self.embedder = wiring.load_embedder(settings, warn=warn) if self.remote else None
        self.store_kind: str | None = settings.store if self.remote else None  # what /health says while unavailable
        self.reachable: bool | None = None  # None: not known (no engine to reach, or not tried yet)
        self.stopped = threading.Event()
        self.snapshots = Snapshots(warn)  # an index folder is served from a private copy (serve/snapshot.py)
        self.loaded_stamp = _stamp(self.index_dir)
        self._next_check = 0.0
        self._reloading = threading.Lock()

    def ready(self, retriever: Retriever) -> None:
        """Serve from `retriever`, or a QAError when it fails the probe questions (see `_probe`)."""
        failure = _probe(retriever)
        if failure is not None:
            raise QAError(f"it loads but fails a probe question ({failure})", status=503)
        self.store_kind = retriever.store.describe()["store"]
        self.batcher = Batcher(retriever)
        self.retriever = retriever
        self.unavailable = None
        self.reachable = True

    def connect(self) -> bool:
        """Open the remote store and serve from it; False, with the reason kept for /health (said once
        per new reason), when it cannot be opened or fails the probe questions."""
        try:
            retriever = wiring.open_retriever(self.settings, embedder=self.embedder, warn=self.warn)
            try:
                self.ready(retriever)
            except BaseException:
                retriever.close()
                raise
            return True
        except Exception as error:  # noqa: BLE001 - whatever breaks, the server stays up and says why
            reason = (f"the collection cannot be opened: {_reason(error)}; tried again every "
                      f"{CONNECT_RETRY_SECONDS:g} s")
            self.reachable = not isinstance(error, Unreachable)
            if reason != self.unavailable and self.warn:
                self.warn(reason)
            self.unavailable = reason
            return False

    def keep_connecting(self) -> None:
        """`connect` again every CONNECT_RETRY_SECONDS until it succeeds or the server stops."""
        while not self.stopped.wait(CONNECT_RETRY_SECONDS):
            if self.connect():
                if self.warn:
                    self.warn(f"the collection opened: serving {self.retriever.store.count} passages")
                return

    def open(self) -> None:
        """Open the index folder (building it from `corpus` when missing or stale), or say why not."""
        try:
            built = wiring.open_retriever(self.settings, build_if_missing=True, corpus=self.corpus, warn=self.warn)
            self.loaded_stamp = _stamp(self.index_dir)  # the index open_retriever built, if it built one
            if not self._serve_private(lambda copy: Retriever(load_index(copy), built.embedder)):
                self.ready(built)
        except Exception as error:  # noqa: BLE001 - whatever breaks, the server starts and says why
            self.unavailable = (f"no index could be loaded from {self.index_dir}/ ({_reason(error)}); "
                                f"build one with `qa index CORPUS_FOLDER --index-dir {self.index_dir}`: "
                                f"it is picked up without a restart")
            if self.warn:
                self.warn(self.unavailable)

    def _serve_private(self, load: Callable[[Path], Retriever]) -> bool:
        """Serve `load` of a private copy of the index folder (see `ready`); False when the folder is too
        large to copy, to be served from its own files. A copy that fails is removed at once."""
        copy = self.snapshots.take(self.index_dir)
        if copy == Path(self.index_dir):
            return False
        try:
            self.ready(load(copy))
        except BaseException:
            self.snapshots.discard_last()
            raise
        return True

    def require(self) -> Retriever:
        self.refresh()
        if self.retriever is None:
            raise QAError(self.unavailable or "no index is loaded", status=503)
        return self.retriever

    def reload_now(self) -> None:
        """`refresh` without waiting for the next second's check (`--watch` has just rebuilt the index)."""
        self._next_check = 0.0
        self.refresh()

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
            in_copy = lambda copy: dataclasses.replace(self.settings, index_dir=copy)  # noqa: E731
            if not self._serve_private(lambda copy: wiring.open_retriever(in_copy(copy), warn=self.warn)):
                self.ready(wiring.open_retriever(self.settings, warn=self.warn))
            if self.warn:
                count = self.retriever.store.count
                self.warn(f"loaded the rebuilt index at {self.index_dir}/ ({count} passages)")
        except Exception as error:  # noqa: BLE001 - a broken rebuild must not break the serving index
            if self.retriever is None:
                self.unavailable = f"the index at {self.index_dir}/ cannot be loaded: {_reason(error)}"
            if self.warn:
                self.warn(f"the index at {self.index_dir}/ cannot be loaded ({_reason(error)})"
                          + ("; still serving the one loaded before" if self.retriever else ""))
        finally:
            self._reloading.release()


def create_app(
    source: Retriever | Settings | str | Path,
    *,
    corpus: list[Path] | None = None,
    warn: Warn | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    on_ready: Callable[[Retriever], None] | None = None,
    allowed_hosts: Iterable[str] = (),
    keys: Keys | None = None,
    rate: str | None = DEFAULT_RATE,
) -> FastAPI:
    """The API over `source`: a ready Retriever, or the store of Settings (a path: an index folder)
    opened once at start-up.

    Requests are answered only when their Host header names a loopback name or one of `allowed_hosts`
    ("*" for any host): see `HostCheck`. With `keys`, every route but /health and the page needs one of
    them, each at most `rate` requests (`limits` notation, e.g. "600/minute"): see `BearerAuth`.

    An index folder is opened with `wiring.open_retriever` (built from `corpus` when missing or stale). When that
    fails, or the index fails the probe questions, the app still starts and reports why on /health (503)
    and on every retrieval route.
    """
    if isinstance(source, Retriever):
        state = _State()
    else:
        state = _State(source if isinstance(source, Settings) else Settings(index_dir=Path(source)), corpus, warn)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        retrying = None
        if isinstance(source, Retriever):
            try:
                state.ready(source)
            except QAError as error:
                state.unavailable = f"the index cannot answer: {error.message}"
        elif state.remote:
            if not state.connect():
                retrying = threading.Thread(target=state.keep_connecting, name="qa-connect", daemon=True)
                retrying.start()
        else:
            state.open()  # the probe questions in `ready` also warm the model up for the first request
        if state.retriever is not None and on_ready:
            on_ready(state.retriever)
        yield
        state.stopped.set()
        state.snapshots.remove_all()  # here, not only at exit: uvicorn re-raises SIGTERM, and atexit never runs
        if retrying is not None:
            retrying.join(timeout=CONNECT_RETRY_SECONDS + 30)

    # FastAPIOffline serves Swagger UI's files itself: /docs works with no network (FastAPI's loads a CDN).
    app = FastAPIOffline(
        title="qa",
        version=__version__,
        summary="Ask questions of your documents; answers are cited passages.",
        description="Local question answering over your documents (.txt, .md, .pdf, .html/.htm, .docx): "
                    "each answer is a list of cited passages, best first. "
                    "Every error is `{\"error\": {\"status\": ..., \"message\": ...}}`.",
        lifespan=lifespan,
        **LENIENT_CONTENT_TYPE,
    )
    app.state.qa = state
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(HeadAsGet)
    if keys is not None:  # after the Host check, before a body is read
        app.add_middleware(BearerAuth, keys=keys, rate=rate)
    app.add_middleware(HostCheck, allowed=allowed_hosts)  # before anything else reads the request
    app.add_middleware(CatchAll)  # added last: the outermost of ours, so it catches what the others raise
    add_error_handlers(app)
    page = _page()

    @app.post("/ask", response_model=AskResponse, responses=ASK_ERRORS, summary="Ask a question")
    def ask_post(request: AskRequest) -> JSONResponse:
        """The top-k cited passages for the question, best first (what `qa ask --json` prints)."""
        return _answer(state, request.question, request.k, request.mode, request.rerank)

    @app.get("/ask", response_model=AskResponse, responses=ASK_ERRORS, summary="Ask a question (GET)")
    def ask_get(
        q: str = Query(description="The question.", examples=[EXAMPLE_QUESTION], json_schema_extra=QUESTION_SCHEMA),
        k: int = Query(5, ge=1, le=MAX_K, description=f"How many passages to return (1-{MAX_K})."),
        # documented with the POST body's enum, so ?mode= (empty) is documented-invalid, as it is
        mode: Annotated[Optional[str], Query(description=f"Retrieval mode: {', '.join(MODES)}."),
                        WithJsonSchema({"type": "string", "enum": list(MODES)})] = None,
        rerank: Annotated[Optional[str], Query(description=f"Second stage: {', '.join(RERANKERS)}."),
                          WithJsonSchema({"type": "string", "enum": list(RERANKERS)})] = None,
    ) -> JSONResponse:
        """The same as `POST /ask`, for links and curl: `/ask?q=who+leads+the+talks&k=3`."""
        return _answer(state, q, k, mode, rerank)

    @app.get("/health", response_model=Health, responses={503: {"model": Health}}, summary="Health")
    def health(request: Request) -> JSONResponse:
        """"ok" with the index's passage count, model and build time; 503 "unavailable" with the reason.
        Asked without a key of a server that needs one: only "ok" or "unavailable" and the version."""
        state.refresh()
        retriever = state.retriever
        if keys is not None and request.scope.get("qa.key") is None:
            ok = retriever is not None
            return JSONResponse({"status": "ok" if ok else "unavailable", "store": None, "reachable": None,
                                 "passage_count": None, "model": None, "built_at": None, "version": __version__,
                                 "message": None}, status_code=200 if ok else 503)
        try:
            store = retriever.store.describe() if retriever is not None else None
        except QAError as error:  # the store was reachable when it opened, and is not now
            store, message, reachable = None, error.message, not isinstance(error, Unreachable)
        else:
            message, reachable = state.unavailable, state.reachable
        if store is None:
            body = {"status": "unavailable", "store": state.store_kind, "reachable": reachable, "passage_count": None,
                    "model": None, "built_at": None, "version": __version__, "message": message}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ok", "store": store["store"], "reachable": True,
                             "passage_count": store["passage_count"], "model": store["model"],
                             "built_at": store["built_at"], "version": __version__, "message": None})

    @app.get("/passages/{passage_id}", response_model=PassageDetail,
             responses={404: {"model": ErrorBody, "description": "No passage has that id"}, 503: ERRORS[503]},
             summary="One passage")
    def passage(passage_id: str) -> JSONResponse:
        """One passage with its citation and the ids of the passages before and after it in its document."""
        retriever = state.require()
        p = retriever.store.passage(passage_id)
        if p is None:
            raise QAError(f"no passage with id {passage_id!r} in this index", status=404)
        before, after = retriever.store.neighbours(p.id)
        citation = p.citation()
        return JSONResponse(asdict(PassageDetail(**p.to_dict(), citation=citation, previous=before, next=after)))

    # the errors are JSON, as everywhere: only the 200 is text/plain (a response_class would document
    # the errors as text/plain too)
    @app.get("/documents/{doc:path}/text", response_model=None,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                              "description": "The document's text"},
                        404: {"model": ErrorBody, "description": "No document has that name"}, 503: ERRORS[503]},
             summary="A document's text")
    def document_text(
        doc: str,
        start: int = Query(0, ge=0, description="The first character of the span (a passage's `start`)."),
        end: Optional[int] = Query(None, ge=0, description="The character after the span (a passage's `end`); "
                                                            "default: the end of the text."),
    ) -> StreamingResponse:
        """The text a document's passage offsets index (`text[start:end]` is each passage): the file as
        read for .txt and .md, the extracted text for PDF, HTML and Word files (what `qa text DOC` prints);
        `?start=&end=` gives a span of it. Streamed a piece at a time, whatever the text's size."""
        pieces = text_pieces(state.require().store, doc, start, end)
        return StreamingResponse(pieces, media_type="text/plain; charset=utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index_page() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    return app


def _answer(state: _State, question: str, k: int, mode: str | None, rerank: str | None = None) -> JSONResponse:
    question = check_question(question)  # GET's q; POST's was checked by AskRequest (a Question: as it is)
    check_k(k)
    check_mode(mode)
    check_reranker(rerank)
    state.require()
    second = () if rerank is None else (rerank,)  # without a second stage, called as before it existed
    return JSONResponse(state.batcher.ask(question, k, mode, *second).to_dict(timing=True))


def _page() -> str:
    try:
        return resources.files("qa.serve").joinpath("static/index.html").read_text(encoding="utf-8")
    except OSError:  # pragma: no cover - a broken install
        return "<!doctype html><title>qa</title><p>The ask page is missing from this install; use /docs.</p>"
