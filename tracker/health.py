"""``/healthz`` (the process answers) and ``/readyz`` (database reachable, schema current)."""

import asyncio
from pathlib import Path

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tracker.errors import MigrationError
from tracker.migrations import pending

__all__ = ["check_health", "check_readiness"]


async def check_health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def check_readiness(request: Request) -> Response:
    """Ready when the schema is current; "degraded" (still 200: pixels and redirects are
    served, events wait in the local spool) while PostgreSQL cannot be reached."""
    recorder = request.app.state.tracking.recorder
    if recorder.degraded:
        return JSONResponse(
            {
                "status": "degraded",
                "reason": "database unreachable; events are spooled locally",
                "spooled_groups": recorder.spool_depth,
            }
        )
    pool: asyncpg.Pool = request.app.state.pool
    sql_dir: Path = request.app.state.sql_dir
    try:
        async with asyncio.timeout(2):
            async with pool.acquire() as conn:
                waiting = await pending(conn, sql_dir)
    except MigrationError as exc:
        return JSONResponse({"status": "not ready", "reason": str(exc)}, status_code=503)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return JSONResponse(
            {"status": "not ready", "reason": "database unreachable"}, status_code=503
        )
    if waiting:
        names = ", ".join(m.name for m in waiting)
        return JSONResponse(
            {"status": "not ready", "reason": f"pending migrations: {names}"}, status_code=503
        )
    return JSONResponse({"status": "ready"})
