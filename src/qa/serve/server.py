"""`qa serve`: the API under uvicorn, with a time limit for a request to arrive and for an idle connection."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Callable, Iterable

from fastapi import FastAPI

from .app import create_app
from .auth import DEFAULT_RATE
from .keys import Keys, default_keys_file, read_keys
from .watch import watched_sources
from .. import wiring
from ..config import Settings
from ..errors import QAError
from ..search.retrieval import Retriever

Warn = Callable[[str], None]


KEEP_ALIVE_SECONDS = 5  # how long an idle keep-alive connection stays open after a response
REQUEST_SECONDS = 10.0  # how long a request (request line, headers and body) may take to arrive
# The most the request line and headers of one request may hold (nginx's large_client_header_buffers
# default is 4 x 8 KiB). httptools has no cap of its own: an endless header grew RSS without bound and
# its parser re-copies a growing header value on every read, so two such clients stalled every other.
MAX_HEADER_BYTES = 32 * 1024
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def serve(
    source: Settings | Retriever,
    host: str = "127.0.0.1",
    port: int = 8000,
    warn: Warn | None = None,
    log_level: str = "warning",
    allowed_hosts: Iterable[str] = (),
    request_timeout: float = REQUEST_SECONDS,
    keys_file: Path | None = None,
    no_auth: bool = False,
    rate: str | None = DEFAULT_RATE,
    tls: tuple[Path, Path] | None = None,
    watch: bool = False,
) -> None:
    """Run the API under uvicorn until interrupted (Ctrl-C).

    Requests must name a loopback host, `host` or one of `allowed_hosts` ("*": any) in their Host header;
    bound to a wildcard address (0.0.0.0, ::) the server answers to any name. `source`: the store of
    Settings (a remote one tried until it opens), or a ready Retriever.

    With keys in `keys_file`, every route but /health and the page needs one (`Authorization: Bearer`),
    unless `no_auth`; beyond loopback, a server with no key refuses to start unless `no_auth`. `tls` is
    a (certificate, key) pair of PEM files. `watch`: the corpus the local index of `source` was built
    from rebuilds it when it changes (serve/watch.py), and each rebuild is served at once.
    """
    import faulthandler

    # a fatal signal (a SIGBUS from an index too large to serve from a private copy, truncated in place)
    # is said on stderr with where it struck, not a silent exit
    faulthandler.enable()
    _check_port(host, port)  # before the model loads: a taken port is said at once, not after a minute
    local = isinstance(source, Settings) and not wiring.is_remote(source)
    if keys_file is None and local:  # over a remote store, --keys names the file
        keys_file = default_keys_file(source.index_dir)
    keys = None if no_auth else _keys(keys_file, host)
    sources = watched_sources(source) if watch else None
    if tls is not None:
        _check_tls(*tls)
    where = f"{'https' if tls else 'http'}://{host}:{port}/"

    def announce(retriever: Retriever) -> None:
        if warn:
            warn(f"serving {retriever.store.count} passages on {where} (API docs: {where}docs)")

    app = create_app(source, warn=warn, on_ready=announce,
                     allowed_hosts=host_names(host, allowed_hosts), keys=keys, rate=rate)
    stop_watching = None
    if sources:
        from .watch import watch_in_background

        stop_watching = watch_in_background(sources, source, warn, built=app.state.qa.reload_now)
    try:
        server(app, host, port, log_level, request_timeout=request_timeout, tls=tls).run()
    finally:
        if stop_watching is not None:
            stop_watching.set()


def _check_tls(certificate: Path, key: Path) -> None:
    """A QAError, before the model loads, when the PEM files cannot serve TLS (missing, not PEM, not a pair)."""
    import ssl

    for path in (certificate, key):
        if not Path(path).is_file():
            raise QAError(f"no TLS file at {path}: give --tls-cert and --tls-key as PEM files", status=400)
    try:  # as uvicorn will load them, but said in one line instead of a traceback at start-up
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(str(certificate), str(key))
    except (ssl.SSLError, OSError) as error:
        raise QAError(f"--tls-cert {certificate} and --tls-key {key} cannot serve TLS ({error}): give a PEM "
                      f"certificate and its private key", status=400) from None


def is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _keys(keys_file: Path | None, host: str) -> Keys | None:
    """The keys the server checks: None (open) when there are none and it listens on loopback only."""
    keys = Keys(keys_file) if keys_file is not None else None
    if keys_file is not None and read_keys(keys_file):  # read here: a broken file is an error, not "no key"
        return keys
    if is_loopback(host):
        return None if keys_file is None or not Path(keys_file).exists() else keys
    raise QAError(f"--host {host} answers other machines, and {keys_file or 'the keys file'} holds no API key: "
                  f"add one with `qa keys add NAME` (then send `Authorization: Bearer KEY`), or serve without "
                  f"keys with --no-auth", status=400)


def host_names(host: str, allowed_hosts: Iterable[str] = ()) -> tuple[str, ...]:
    """The Host names a server bound to `host` answers to besides the loopback ones ("*": any name)."""
    return ("*",) if host in WILDCARD_HOSTS else (host, *allowed_hosts)


def server(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, log_level: str = "warning",
           request_timeout: float = REQUEST_SECONDS, keep_alive_timeout: int = KEEP_ALIVE_SECONDS,
           max_header_bytes: int = MAX_HEADER_BYTES, tls: tuple[Path, Path] | None = None):
    """The uvicorn server `qa serve` runs `app` under (`.run()` serves until interrupted); `tls` is a
    (certificate, key) pair of PEM files: HTTPS through uvicorn's own ssl settings."""
    import uvicorn

    certificate, key = tls or (None, None)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                            http=_timed_protocol(request_timeout, max_header_bytes),
                            timeout_keep_alive=keep_alive_timeout,
                            ssl_certfile=certificate and str(certificate), ssl_keyfile=key and str(key))
    return uvicorn.Server(config)


def _timed_protocol(request_timeout: float, max_header_bytes: int = MAX_HEADER_BYTES) -> type:
    """uvicorn's httptools protocol, closing a connection whose request takes over `request_timeout` s to
    arrive, or whose request line and headers run over `max_header_bytes` (431).

    uvicorn times out only a connection idle after a response (timeout_keep_alive): one that connects and
    sends nothing, or half a request (slowloris, a stalled client), was held open for ever. Its
    h11_max_incomplete_event_size applies to h11 only, not to the httptools parser used here (the faster).
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class TimedHttpToolsProtocol(HttpToolsProtocol):
        _timer = None
        _in_headers = False  # the request line and headers have begun and not yet ended
        _head_bytes = 0  # bytes of the request line and headers read so far (counted before parsing)
        _in_body = False  # the headers are complete: what comes is body, counted by BodyLimit

        def data_received(self, data: bytes) -> None:
            if not self._in_body:
                # the bytes before a blank line are head; a body in the same read is not counted
                end = data.find(b"\r\n\r\n")
                self._head_bytes += len(data) if end < 0 else end
                if self._head_bytes > max_header_bytes:
                    self._refuse(431, "Request Header Fields Too Large",
                                 f"the request line and headers are over {max_header_bytes // 1024} KiB")
                    return
            super().data_received(data)

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()  # from the connection on: the first request, or nothing at all, must come in time

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_headers = True
            if self._timer is None:  # a later request on a kept-alive connection
                self._arm()

        def on_headers_complete(self) -> None:
            self._in_headers, self._in_body = False, True
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            self._head_bytes, self._in_body = 0, False
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
                self._refuse(408, "Request Timeout", f"the request did not arrive within {request_timeout:g} s")
            self.transport.close()

        def _refuse(self, status: int, reason: str, message: str) -> None:
            """Answer `status` with the JSON error, before the app has seen the request, and close."""
            self._disarm()
            body = json.dumps({"error": {"status": status, "message": message}}).encode()
            head = [b"HTTP/1.1 %d %s\r\n" % (status, reason.encode())]
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


def security_options(keys_file: Path | None, no_auth: bool, rate: str, tls_cert: Path | None,
                     tls_key: Path | None) -> dict:
    """`qa serve`'s keys, rate limit and TLS options, checked, as `serve`'s keyword arguments (docs/security.md)."""
    if (tls_cert is None) != (tls_key is None):
        raise QAError("--tls-cert and --tls-key go together: give both PEM files")
    try:
        from limits import parse

        parse(rate)
    except ValueError:
        raise QAError(f"--rate-limit {rate!r} is not a rate: give N/PERIOD, e.g. 600/minute") from None
    return {"keys_file": keys_file, "no_auth": no_auth, "rate": rate,
            "tls": (tls_cert, tls_key) if tls_cert is not None else None}
