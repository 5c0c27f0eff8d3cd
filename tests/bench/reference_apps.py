"""The two reference apps of the pixel benchmark, served by uvicorn exactly like ours.

``bare``: a Starlette app that answers ``/o/{token}`` with the GIF and records nothing, the
ceiling for any app on this stack. ``insert``: the same plus one INSERT per request into
PostgreSQL before answering, the way a naive tracker records (what group commit must beat).
Both are ASGI factories (``uvicorn --factory``); ``insert`` reads ``DATABASE_URL``.
"""

import contextlib
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tracker.database import create_pool
from tracker.pixel import make_gif

__all__ = ["CREATE_HITS", "bare", "insert"]

_GIF = make_gif()
_HEADERS = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}
CREATE_HITS = """
    CREATE TABLE IF NOT EXISTS bench_hits (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        token text NOT NULL,
        user_agent text,
        at timestamptz NOT NULL DEFAULT now()
    )
"""


def bare() -> Starlette:
    async def pixel(request: Request) -> Response:
        return Response(_GIF, media_type="image/gif", headers=_HEADERS)

    return Starlette(routes=[Route("/o/{token}", pixel)])


def insert() -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # No session reset when a connection goes back to the pool (asyncpg's default runs
        # one more statement per request): one INSERT per request, as our recorder's pool.
        pool = await create_pool(
            os.environ["DATABASE_URL"], min_size=10, max_size=10, reset_sessions=False
        )
        try:
            await pool.execute(CREATE_HITS)
            app.state.pool = pool
            yield
        finally:
            await pool.close()

    async def pixel(request: Request) -> Response:
        await request.app.state.pool.execute(
            "INSERT INTO bench_hits (token, user_agent) VALUES ($1, $2)",
            request.path_params["token"],
            request.headers.get("user-agent"),
        )
        return Response(_GIF, media_type="image/gif", headers=_HEADERS)

    return Starlette(routes=[Route("/o/{token}", pixel)], lifespan=lifespan)


def main() -> None:
    """``python -m tests.bench.reference_apps bare|insert PORT``: serve it on one worker with
    the options ``tracker serve`` uses."""
    import sys

    import uvicorn

    from tracker.commands import server_options
    from tracker.settings import Settings

    factory = {"bare": bare, "insert": insert}[sys.argv[1]]
    options = server_options(Settings.from_environ(), "127.0.0.1", int(sys.argv[2]))
    uvicorn.run(factory(), **options)


if __name__ == "__main__":
    main()
