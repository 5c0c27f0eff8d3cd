"""Two server processes on one database obey a consent change within a second."""

import asyncio
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.consent_forms import BROWSER, form_fields
from tests.factories import grant, make_campaign, mint_for, path_of, person, withdraw
from tests.servers import running_server
from tracker.runtime import Runtime

pytestmark = pytest.mark.slow
SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15"


async def test_consent_changes_reach_a_second_server_process_within_a_second(
    conn: asyncpg.Connection, runtime: Runtime, test_env: dict[str, str], tmp_path: Path
) -> None:
    scenario = await make_campaign(conn)
    await grant(conn, runtime, scenario, "ada@example.org")
    ada = await mint_for(conn, runtime, scenario, "ada@example.org")
    path = ada.pixel.removeprefix(runtime.settings.base_url)

    async def events() -> int:
        return int(await conn.fetchval("SELECT count(*) FROM events"))

    with (
        running_server(test_env, tmp_path / "a.log") as a,
        running_server(test_env, tmp_path / "b.log") as b,
    ):
        async with httpx.AsyncClient(headers={"user-agent": SAFARI}) as http:
            await http.get(a + path)
            assert await events() == 1

            await withdraw(conn, runtime, scenario, "ada@example.org")
            await http.get(a + path)  # at once: the commit itself checks consent
            await http.get(b + path)  # b reads "withdrawn" from the database and caches it
            assert await events() == 1

            await grant(conn, runtime, scenario, "ada@example.org")
            await asyncio.sleep(1.0)
            await http.get(b + path)  # only the notification can have cleared b's entry
            await http.get(a + path)
            assert await events() == 3


async def test_consent_given_and_withdrawn_on_one_server_page_is_obeyed_by_another(
    conn: asyncpg.Connection, runtime: Runtime, test_env: dict[str, str], tmp_path: Path
) -> None:
    scenario = await make_campaign(conn)
    await grant(conn, runtime, scenario, "ada@example.org")
    ada = await mint_for(conn, runtime, scenario, "ada@example.org")
    pixel = ada.pixel.removeprefix(runtime.settings.base_url)
    consent = ada.consent.removeprefix(runtime.settings.base_url)
    env = {**test_env, "TRACKER_CONSENT_MIN_SECONDS": "0"}

    async def events() -> int:
        return int(await conn.fetchval("SELECT count(*) FROM events"))

    with (
        running_server(env, tmp_path / "a.log") as a,
        running_server(env, tmp_path / "b.log") as b,
    ):
        async with httpx.AsyncClient(headers={"user-agent": BROWSER}) as http:
            page = await http.get(a + consent)
            await http.post(a + consent, data=form_fields(page))  # withdraw on a
            await http.get(b + pixel)  # b reads "withdrawn" and caches it
            assert await events() == 0

            page = await http.get(a + consent)
            assert form_fields(page)["action"] == "grant"
            await http.post(a + consent, data=form_fields(page))  # grant again on a
            await asyncio.sleep(1.0)
            await http.get(b + pixel)
            assert await events() == 1


async def test_two_server_processes_under_load_count_every_answered_request(
    conn: asyncpg.Connection, runtime: Runtime, test_env: dict[str, str], tmp_path: Path
) -> None:
    scenario = await make_campaign(conn)
    await grant(conn, runtime, scenario, "ada@example.org")
    pixels = [
        path_of((await mint_for(conn, runtime, scenario, f"load{n}@example.org")).pixel)
        for n in range(100)
    ]
    named = path_of((await mint_for(conn, runtime, scenario, "ada@example.org")).pixel)
    env = {**test_env, "TRACKER_TRUSTED_PROXIES": "127.0.0.1/32"}
    with (
        running_server(env, tmp_path / "a.log") as a,
        running_server(env, tmp_path / "b.log") as b,
    ):
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(limits=limits, timeout=10) as http:

            async def one(n: int) -> int:
                base = a if n % 2 else b
                path = named if n % 10 == 0 else pixels[n % len(pixels)]
                return (await http.get(base + path, headers=person(n))).status_code

            statuses = await asyncio.gather(*(one(n) for n in range(600)))
    assert statuses.count(200) == 600
    assert await conn.fetchval("SELECT sum(events) FROM counters") == 600
    assert await conn.fetchval("SELECT count(*) FROM events") == 60  # ada's, every tenth
