"""`qa serve`: the API under uvicorn, with a time limit for a request to arrive and for an idle connection."""

from __future__ import annotations

import errno
from typing import Callable, Iterable

from fastapi import FastAPI

from .app import create_app
from ..config import Settings
from ..errors import QAError
from ..search.retrieval import Retriever

Warn = Callable[[str], None]


KEEP_ALIVE_SECONDS = 5  # how long an idle keep-alive connection stays open after a response
REQUEST_SECONDS = 10.0  # how long a request (request line, headers and body) may take to arrive
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def serve(
    source: Settings | Retriever,
    host: str = "127.0.0.1",
    port: int = 8000,
    warn: Warn | None = None,
    log_level: str = "warning",
    allowed_hosts: Iterable[str] = (),
    request_timeout: float = REQUEST_SECONDS,
) -> None:
    """Run the API under uvicorn until interrupted (Ctrl-C).

    Requests must name a loopback host, `host` or one of `allowed_hosts` ("*": any) in their Host header;
    bound to a wildcard address (0.0.0.0, ::) the server answers to any name. `source`: the store of
    Settings (a remote one tried until it opens), or a ready Retriever.
    """
    _check_port(host, port)  # before the model loads: a taken port is said at once, not after a minute
    where = f"http://{host}:{port}/"

    def announce(retriever: Retriever) -> None:
        if warn:
            warn(f"serving {retriever.store.count} passages on {where} (API docs: {where}docs)")

    app = create_app(source, warn=warn, on_ready=announce,
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
