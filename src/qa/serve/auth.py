"""ASGI middleware: `Authorization: Bearer KEY` on every route but /health and the page, and a request limit per key."""

from __future__ import annotations

import math
import time

from .errors import error_response
from .keys import Keys

# Answered without a key: /health (it then says nothing about the corpus: see app.health), the ask page
# (static: it asks for a key itself) and the API's own description.
OPEN_PATHS = ("/health", "/", "/docs", "/openapi.json", "/docs/oauth2-redirect")
OPEN_PREFIXES = ("/static-offline-docs/",)
DEFAULT_RATE = "600/minute"
KEYS_CHECK_SECONDS = 1.0  # how often the keys file is looked at again (a revoke takes effect within it)


class BearerAuth:
    """401 with one JSON error for a request without a known key; 429 with Retry-After past the key's
    rate (a moving window, by the `limits` library). The key's name is left in scope["qa.key"]."""

    def __init__(self, app, keys: Keys, rate: str | None = DEFAULT_RATE) -> None:
        from limits import parse, storage, strategies

        self.app, self.keys = app, keys
        self.rate = parse(rate) if rate else None
        self.limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._next_check = 0.0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + KEYS_CHECK_SECONDS
            self.keys.refresh()
        name = self._name(scope)
        path = scope.get("path", "")
        if name is None and not (path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)):
            await error_response(401, "this server needs an API key: send `Authorization: Bearer KEY` (a key is "
                                      "made with `qa keys add NAME`)",
                                 headers={"WWW-Authenticate": 'Bearer realm="qa"'})(scope, receive, send)
            return
        if name is not None and self.rate is not None and not self.limiter.hit(self.rate, name):
            reset = self.limiter.get_window_stats(self.rate, name).reset_time
            wait = max(1, math.ceil(reset - time.time()))
            await error_response(429, f"over this key's limit of {self.rate}: try again in {wait} s",
                                 headers={"Retry-After": str(wait)})(scope, receive, send)
            return
        scope["qa.key"] = name
        await self.app(scope, receive, send)

    def _name(self, scope) -> str | None:
        for header, value in scope.get("headers", ()):
            if header == b"authorization":
                scheme, _, key = value.decode("latin-1").partition(" ")
                return self.keys.name_of(key.strip()) if scheme.lower() == "bearer" else None
        return None
