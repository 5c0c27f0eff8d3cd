"""Shared fixtures: a real PostgreSQL, a migrated template, a fresh database per test.

The embedded PostgreSQL is started once per session (or DATABASE_URL is used as the
administrative connection when set). Migrations run once into a template database, and
every test gets its own copy through CREATE DATABASE ... TEMPLATE, which is cheap.
"""

import asyncio
import base64
import inspect
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from tests.dsn import with_database
from tracker.app import create_app
from tracker.database import start_embedded
from tracker.migrations import apply_migrations, default_sql_dir
from tracker.runtime import Runtime
from tracker.settings import Settings

TEST_ENV = {
    "TRACKER_SIGNING_KEYS": "test-signing-key-0123456789abcdefghijklmnop",
    "TRACKER_KEK": base64.b64encode(b"k" * 32).decode(),
    "TRACKER_BLIND_INDEX_KEY": base64.b64encode(b"b" * 32).decode(),
    "TRACKER_BASE_URL": "http://tracker.test",
    # Scenario tests click right after minting; tests of the too_fast rule set it themselves.
    "TRACKER_TOO_FAST_SECONDS": "0",
    # The test client is a trusted proxy, so tests can give people addresses of their own.
    "TRACKER_TRUSTED_PROXIES": "203.0.113.0/24",
}
CLIENT_ADDRESS = ("203.0.113.7", 40111)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.add_marker(pytest.mark.anyio)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def admin_dsn() -> Iterator[str]:
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    # Not under pytest's temp tree: the embedded server runs as its own system user when
    # we are root, and any pytest session that starts resets that tree to mode 0700.
    folder = Path(tempfile.mkdtemp(prefix="tracker-test-postgres-"))
    server = start_embedded(folder / "data")
    try:
        yield str(server.get_uri(database="postgres"))
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def template_name(admin_dsn: str) -> Iterator[str]:
    name = f"tracker_template_{os.getpid()}"

    async def build() -> None:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(with_database(admin_dsn, name))
        try:
            await apply_migrations(conn, default_sql_dir())
        finally:
            await conn.close()

    asyncio.run(build())
    yield name
    asyncio.run(_drop(admin_dsn, name))


@pytest.fixture
def dsn(admin_dsn: str, template_name: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    name = f"t_{uuid.uuid4().hex[:16]}"

    async def create() -> None:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
        finally:
            await admin.close()

    asyncio.run(create())
    yield with_database(admin_dsn, name)
    asyncio.run(_drop(admin_dsn, name))


@pytest.fixture
def empty_dsn(admin_dsn: str) -> Iterator[str]:
    """A fresh database without any migration applied."""
    name = f"e_{uuid.uuid4().hex[:16]}"

    async def create() -> None:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    asyncio.run(create())
    yield with_database(admin_dsn, name)
    asyncio.run(_drop(admin_dsn, name))


async def _drop(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def test_env(dsn: str, tmp_path: Path) -> dict[str, str]:
    """The environment a tracker process needs to work on this test's database."""
    return {**TEST_ENV, "DATABASE_URL": dsn, "TRACKER_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def settings(test_env: dict[str, str]) -> Settings:
    return Settings.from_environ(test_env)


@pytest.fixture
def runtime(settings: Settings) -> Runtime:
    return Runtime.from_settings(settings)


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(dsn)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def app(runtime: Runtime, dsn: str) -> AsyncIterator[Starlette]:
    application = create_app(runtime, dsn)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url="http://tracker.test") as c:
        yield c
