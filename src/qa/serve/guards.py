"""ASGI middleware around the API: a JSON 500 that keeps the connection, HEAD as GET, Host names, body size."""

from __future__ import annotations

import logging
from typing import Iterable

from starlette.routing import Match

from .errors import error_response
from .models import MAX_BODY_BYTES
from ..search.retrieval import MAX_QUESTION_CHARS

log = logging.getLogger("qa.api")


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

    Ours, not Starlette's TrustedHostMiddleware, which is not equivalent (starlette 1.10, tried on the
    same names): it answers a refusal in plain text ("Invalid host header"), not this API's JSON error
    saying which --allow-host to give; it refuses "[::1]:8000" and "::1" with "::1" allowed, a name with
    its trailing dot ("localhost."), and a request with an empty Host header; it redirects to a www.
    name when one is allowed. tests/test_api.py pins what this one does in each case.
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
