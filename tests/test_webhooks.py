"""Webhooks against a real receiver on 127.0.0.1: signed, filtered, retried, never for
non-consenting recipients, delivered once by several deliverers, replayable."""

import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from consent.retention import purge
from tests.conftest import CLIENT_ADDRESS
from tests.factories import (
    Scenario,
    grant,
    make_campaign,
    mint_for,
    path_of,
    person,
    withdraw,
)
from tests.servers import running_server
from tracker import db, webhooks_db
from tracker.app import create_app
from tracker.client import verify_webhook
from tracker.ids import format_id
from tracker.maintenance import Maintenance
from tracker.minting import mint
from tracker.runtime import Runtime
from tracker.settings import Settings
from tracker.webhooks import Deliverer, DeliveryPolicy, add_webhook


class Receiver:
    """A tiny HTTP server that answers with scripted statuses ("hang": never answers)."""

    def __init__(self, script: list[int | str] | None = None) -> None:
        self.script = list(script or [])
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._stop = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> "Receiver":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._stop.set()
        self._server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.sleep(0.05)  # let the handlers see it and finish

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append((headers, body))
        action = self.script.pop(0) if self.script else 200
        if action == "hang":
            await self._stop.wait()
            return
        writer.write(
            f"HTTP/1.1 {action} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    async def wait_for(self, count: int, seconds: float = 8.0) -> None:
        for _ in range(int(seconds / 0.05)):
            if len(self.received) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(self.received)} of {count} webhooks arrived")


def _settings(settings: Settings, hold: float = 0.0) -> Settings:
    return dataclasses.replace(
        settings,
        webhook_hold_seconds=hold,
        webhook_timeout_seconds=0.5,
        webhook_backoff_seconds=0.1,
    )


@pytest.fixture
async def hook_client(
    settings: Settings, dsn: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    hold = float(getattr(request, "param", 0.0))
    app = create_app(Runtime.from_settings(_settings(settings, hold)), dsn)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            yield app, client


async def test_only_consenting_recipients_human_events_arrive_signed(
    conn: asyncpg.Connection,
    runtime: Runtime,
    hook_client: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = hook_client
    scenario = await make_campaign(conn)
    async with Receiver() as receiver:
        _, secret = await add_webhook(conn, scenario.account_id, receiver.url, ["human"])
        await grant(conn, runtime, scenario, "ada@example.org")
        ada = await mint_for(conn, runtime, scenario, "ada@example.org")
        bob = await mint_for(conn, runtime, scenario, "bob@example.org")
        target = next(iter(ada.links))
        await client.get(path_of(ada.pixel), headers=person(1))
        await client.get(path_of(ada.links[target]), headers=person(1))
        await client.get(path_of(ada.pixel), headers={"user-agent": "curl/8.5"})  # machine
        await client.get(path_of(bob.pixel), headers=person(2))
        await client.get(path_of(bob.links[target]), headers=person(2))
        await receiver.wait_for(2)
        await asyncio.sleep(0.5)
        assert len(receiver.received) == 2
        payloads = [verify_webhook(secret, h, body) for h, body in receiver.received]
    assert sorted((p["type"], p["recipient"], p["link"], p["verdict"]) for p in payloads) == [
        ("click", "ada@example.org", target, "human"),
        ("open", "ada@example.org", None, "human"),
    ]
    with pytest.raises(ValueError, match="signature"):
        verify_webhook(secret, receiver.received[0][0], receiver.received[0][1] + b" ")


async def test_a_500_then_a_200_is_two_attempts_with_one_webhook_id(
    conn: asyncpg.Connection,
    runtime: Runtime,
    hook_client: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = hook_client
    scenario = await make_campaign(conn)
    async with Receiver([500, "hang", 200]) as receiver:
        webhook_id, _ = await add_webhook(conn, scenario.account_id, receiver.url, ["human"])
        await grant(conn, runtime, scenario, "ada@example.org")
        ada = await mint_for(conn, runtime, scenario, "ada@example.org")
        await client.get(path_of(ada.pixel), headers=person(1))
        await receiver.wait_for(3)
        ids = {headers["webhook-id"] for headers, _ in receiver.received}
        assert len(ids) == 1
        for _ in range(40):
            rows = await webhooks_db.fetch_deliveries(conn, scenario.account_id, webhook_id, 5)
            if rows[0]["state"] == "delivered":
                break
            await asyncio.sleep(0.05)
    assert (rows[0]["state"], rows[0]["attempts"]) == ("delivered", 3)
    attempts = await webhooks_db.fetch_attempts(conn, rows[0]["id"])
    assert [(a["status"], a["error"]) for a in attempts] == [
        (500, "HTTP 500"),
        (None, "timed out"),
        (200, None),
    ]


@pytest.mark.parametrize("hook_client", [1.0], indirect=True)  # hold deliveries for 1 s
async def test_withdrawal_or_a_honeypot_before_delivery_drops_the_event(
    conn: asyncpg.Connection,
    runtime: Runtime,
    hook_client: tuple[Starlette, httpx.AsyncClient],
) -> None:
    _, client = hook_client
    scenario = await make_campaign(conn)
    honeypot = await db.ensure_honeypot_link(conn, scenario.campaign.id, "http://t/nothing")
    async with Receiver() as receiver:
        await add_webhook(conn, scenario.account_id, receiver.url, ["human"])
        for email in ("ada@example.org", "eve@example.org", "cy@example.org"):
            await grant(conn, runtime, scenario, email)
        async with conn.transaction():
            mails = {
                email: await mint(
                    conn,
                    runtime,
                    campaign=scenario.campaign,
                    email=email,
                    honeypot_link=honeypot,
                    now=datetime.now(UTC),
                )
                for email in ("ada@example.org", "eve@example.org", "cy@example.org")
            }
        for n, mail in enumerate(mails.values()):
            await client.get(path_of(mail.pixel), headers=person(n))
        await withdraw(conn, runtime, scenario, "ada@example.org")
        trap = mails["eve@example.org"].honeypot
        assert trap is not None
        await client.get(path_of(trap), headers=person(1))  # a scanner: eve's open was one
        await client.get("/healthz")
        await receiver.wait_for(1, seconds=4)
        await asyncio.sleep(1.0)
        recipients = [verify_webhook_unsigned(body) for _, body in receiver.received]
    assert recipients == ["cy@example.org"]


def verify_webhook_unsigned(body: bytes) -> str:
    import json

    return str(json.loads(body)["recipient"])


async def test_two_deliverers_send_each_event_once_and_replay_sends_again(
    conn: asyncpg.Connection,
    runtime: Runtime,
    dsn: str,
    hook_client: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = hook_client
    scenario = await make_campaign(conn)
    async with Receiver() as receiver:
        webhook_id, _ = await add_webhook(conn, scenario.account_id, receiver.url, ["human"])
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        assert pool is not None
        second = Deliverer(pool, runtime.directory.vault, DeliveryPolicy(hold_seconds=0))
        task = asyncio.get_running_loop().create_task(second.run_forever(idle_seconds=0.05))
        try:
            for n in range(30):
                email = f"p{n}@example.org"
                await grant(conn, runtime, scenario, email)
                mail = await mint_for(conn, runtime, scenario, email)
                await client.get(path_of(mail.pixel), headers=person(n))
            await receiver.wait_for(30)
            await asyncio.sleep(0.5)
            ids = [headers["webhook-id"] for headers, _ in receiver.received]
            assert len(ids) == 30 and len(set(ids)) == 30
            assert second.delivered + app.state.deliverer.delivered == 30

            since = datetime.now(UTC) - timedelta(minutes=5)
            assert (
                await webhooks_db.replay_since(conn, scenario.account_id, webhook_id, since) == 30
            )
            await receiver.wait_for(60)
            assert sorted(h["webhook-id"] for h, _ in receiver.received[30:]) == sorted(ids)
        finally:
            task.cancel()
            await second.close()
            await pool.close()


async def _consenting_pixels(
    conn: asyncpg.Connection, runtime: Runtime, scenario: Scenario, count: int
) -> list[str]:
    """Pixel paths of ``count`` recipients who granted consent."""
    pixels = []
    for n in range(count):
        email = f"r{n}@example.org"
        await grant(conn, runtime, scenario, email)
        pixels.append(path_of((await mint_for(conn, runtime, scenario, email)).pixel))
    return pixels


@pytest.mark.slow
async def test_two_server_processes_deliver_each_event_once(
    conn: asyncpg.Connection, runtime: Runtime, test_env: dict[str, str], tmp_path: Path
) -> None:
    scenario = await make_campaign(conn)
    env = {
        **test_env,
        "TRACKER_WEBHOOK_HOLD_SECONDS": "0",
        "TRACKER_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    async with Receiver() as receiver:
        await add_webhook(conn, scenario.account_id, receiver.url, ["human"])
        pixels = await _consenting_pixels(conn, runtime, scenario, 40)
        with (
            running_server(env, tmp_path / "a.log") as a,
            running_server(env, tmp_path / "b.log") as b,
        ):
            async with httpx.AsyncClient() as http:
                for n, pixel in enumerate(pixels):
                    await http.get((a if n % 2 else b) + pixel, headers=person(n))
            await receiver.wait_for(40, seconds=15)
            await asyncio.sleep(1.5)  # both deliverers keep polling: nothing more may come
    ids = [headers["webhook-id"] for headers, _ in receiver.received]
    assert len(ids) == 40 and len(set(ids)) == 40


@pytest.mark.slow
async def test_a_server_with_delivery_off_leaves_it_to_tracker_webhook_deliver(
    conn: asyncpg.Connection, runtime: Runtime, test_env: dict[str, str], tmp_path: Path
) -> None:
    scenario = await make_campaign(conn)
    env = {
        **test_env,
        "TRACKER_WEBHOOK_HOLD_SECONDS": "0",
        "TRACKER_WEBHOOK_DELIVERY": "off",
        "TRACKER_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    async with Receiver() as receiver:
        await add_webhook(conn, scenario.account_id, receiver.url, ["human"])
        pixels = await _consenting_pixels(conn, runtime, scenario, 5)
        with running_server(env, tmp_path / "serve.log") as base:
            async with httpx.AsyncClient() as http:
                for n, pixel in enumerate(pixels):
                    assert (await http.get(base + pixel, headers=person(n))).status_code == 200
            await asyncio.sleep(1.5)
            assert receiver.received == []  # queued, but this server does not post
            with (tmp_path / "deliver.log").open("wb") as log:
                deliverer = await asyncio.create_subprocess_exec(
                    sys.executable,
                    *("-m", "tracker.cli", "webhook", "deliver"),
                    env={**os.environ, **env},
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                )
                try:
                    await receiver.wait_for(5, seconds=15)
                finally:
                    deliverer.send_signal(signal.SIGINT)
                    code = await asyncio.wait_for(deliverer.wait(), 10)
            assert code == 0, (tmp_path / "deliver.log").read_text()
    assert len({headers["webhook-id"] for headers, _ in receiver.received}) == 5


async def test_a_summary_webhook_gets_each_hour_once_anonymous_and_k_suppressed(
    conn: asyncpg.Connection,
    runtime: Runtime,
    settings: Settings,
    hook_client: tuple[Starlette, httpx.AsyncClient],
) -> None:
    app, client = hook_client
    scenario = await make_campaign(conn)
    async with Receiver() as receiver:
        _, secret = await add_webhook(
            conn, scenario.account_id, receiver.url, ["human"], hourly_summary=True
        )
        await grant(conn, runtime, scenario, "ada@example.org")
        mails = [await mint_for(conn, runtime, scenario, f"r{n}@example.org") for n in range(7)]
        mails.append(await mint_for(conn, runtime, scenario, "ada@example.org"))
        for n, mail in enumerate(mails):  # 8 human opens, one of them a consenting recipient
            assert (await client.get(path_of(mail.pixel), headers=person(n))).status_code == 200
        for n, mail in enumerate(mails[:2]):  # 2 human clicks: under k
            await client.get(path_of(next(iter(mail.links.values()))), headers=person(n))
        await asyncio.sleep(1.0)
        assert receiver.received == []  # events never go to a summary webhook

        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        maintenance = Maintenance(app.state.pool, k=5)
        assert await maintenance.run_once(hour + timedelta(hours=1, minutes=10))
        assert await maintenance.run_once(hour + timedelta(hours=1, minutes=40))  # once only
        await receiver.wait_for(1)
        await asyncio.sleep(1.0)
        assert len(receiver.received) == 1
        summary = verify_webhook(secret, *receiver.received[0])
    assert summary == {
        "type": "summary",
        "hour": hour.isoformat(),
        "k": 5,
        "campaigns": [
            {
                "campaign": format_id("cmp", scenario.campaign.id),
                "opens": {"human": 8, "proxy": None, "machine": None, "all": 8},
                "clicks": {"human": None, "proxy": None, "machine": None, "all": None},
            }
        ],
    }
    assert "ada@example.org" not in receiver.received[0][1].decode()


async def test_the_purge_forgets_finished_deliveries_as_old_as_expired_events(
    conn: asyncpg.Connection,
) -> None:
    scenario = await make_campaign(conn)
    webhook_id, _ = await add_webhook(
        conn, scenario.account_id, "https://crm.example.org/h", ["human"]
    )
    now = datetime.now(UTC)
    rows = [
        ("delivered", 400),  # past the 180-day retention: forgotten
        ("failed", 400),  # the same
        ("pending", 400),  # still to be tried: kept
        ("delivered", 10),  # recent: kept
    ]
    for state, days in rows:
        await conn.execute(
            "INSERT INTO webhook_outbox (id, webhook_id, event_id, event_at, state,"
            " next_attempt_at, created_at) VALUES (gen_random_uuid(), $1, gen_random_uuid(),"
            " $2, $3, $2, $2)",
            webhook_id,
            now - timedelta(days=days),
            state,
        )
    await purge(conn, now, "test")
    kept = await conn.fetch("SELECT state, created_at FROM webhook_outbox ORDER BY created_at")
    assert [(r["state"], (now - r["created_at"]).days) for r in kept] == [
        ("pending", 400),
        ("delivered", 10),
    ]
