"""The pixel and link paths, served past Starlette's routing and middleware.

Every open and click goes through ``/o/{token}`` or ``/c/{token}``, and for those two
paths the framework's layers (error middleware, exception middleware, router, request
and response objects) cost more than the tracking itself. ``TrackerApp`` hands them to
their plain ASGI endpoints directly and everything else to Starlette as usual; the same
endpoints are also routed (so other methods get Starlette's 405). An exception on the fast
path is logged and answered with a 500, as Starlette's error middleware would. Any request
whose head is over ``MAX_HEAD_BYTES`` is answered 431 before anything else.
"""

import contextlib
import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

__all__ = ["MAX_HEAD_BYTES", "Endpoint", "PlainEndpoint", "TrackerApp", "peer_of", "token_of"]

_logger = logging.getLogger("tracker.app")
Endpoint = Callable[[Scope, Receive, Send], Awaitable[None]]
# uvicorn (h11) limits a head only while it is incomplete: one that arrives whole in a
# single read passes at any size. This is the same limit, for complete heads.
MAX_HEAD_BYTES = 16 * 1024


def _head_bytes(scope: Scope) -> int:
    return len(scope["raw_path"] if "raw_path" in scope else scope["path"]) + sum(
        len(name) + len(value) for name, value in scope["headers"]
    )


def token_of(scope: Scope) -> str:
    """The ``{token}`` of ``/o/{token}`` or ``/c/{token}``."""
    token: str = scope["path"][3:]
    return token


def peer_of(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


class TrackerApp(Starlette):
    """Starlette, with ``/o/`` and ``/c/`` GET and HEAD requests sent straight to their
    endpoints (set ``fast_paths`` once the app is built)."""

    fast_paths: dict[str, Endpoint] = {}  # noqa: RUF012 (replaced per instance)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _head_bytes(scope) > MAX_HEAD_BYTES:
            await send({"type": "http.response.start", "status": 431, "headers": []})
            await send({"type": "http.response.body", "body": b"Request headers too large"})
            return
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            endpoint = self.fast_paths.get(path[:3])
            if endpoint is not None and len(path) > 3 and "/" not in path[3:]:
                scope["app"] = self
                await self._serve_fast(endpoint, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _serve_fast(
        self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send
    ) -> None:
        try:
            await endpoint(scope, receive, send)
        except Exception as exc:
            _logger.error(
                "unhandled %s on %s", exc.__class__.__name__, scope["path"][:3], exc_info=exc
            )
            with contextlib.suppress(Exception):  # unless the response had begun already
                await send({"type": "http.response.start", "status": 500, "headers": []})
                await send({"type": "http.response.body", "body": b"Internal Server Error"})


class PlainEndpoint:
    """A plain ASGI endpoint for a Starlette ``Route`` (which would otherwise take a function
    for a request-to-response endpoint)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.endpoint(scope, receive, send)
