"""Random traffic for non-consenting recipients leaves nothing that names or singles them out.

After minting, every table is dumped; then random opens and clicks arrive (varied user
agents, IPv4 and IPv6 addresses, GET and HEAD) for recipients who never consented, who
withdrew before minting, and who withdrew after their named URLs were minted. Afterwards:
no table holds their ids, nonces, addresses, user agents or e-mails; the tables that may name
them (recipients, keys, consent) are unchanged; every new time is a whole hour; and nothing
of it reached the logs. This test must stay green forever.
"""

import dataclasses
import ipaddress
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import CLIENT_ADDRESS
from tests.factories import grant, make_campaign, mint_for, path_of, withdraw
from tracker.app import create_app
from tracker.maintenance import Maintenance
from tracker.runtime import Runtime
from tracker.settings import Settings
from tracker.webhooks import add_webhook

LINKS = [f"https://example.org/article/{n}" for n in range(3)]
MAY_NAME_RECIPIENTS = {"recipients", "recipient_keys", "consent_ledger", "consent_state"}
# Tables whose rows carry exact times of their own, never of a request: consenting
# recipients' events, the audit log of DPO and server actions (e.g. the start-up purge),
# and the webhook outbox and its attempts (here: the hourly summary, queued and tried by
# the server on its own schedule).
EXACT_TIMES_ALLOWED = {"events", "dpo_audit", "webhook_outbox", "webhook_attempts"}

Tables = dict[str, list[tuple[Any, ...]]]


async def _dump(conn: asyncpg.Connection) -> Tables:
    # Every table, and partitioned tables through their parent (which returns all rows).
    names = await conn.fetch(
        "SELECT c.relname AS table_name FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
    )
    return {
        row["table_name"]: sorted(
            (tuple(r) for r in await conn.fetch(f'SELECT * FROM "{row["table_name"]}"')),
            key=repr,
        )
        for row in names
    }


def _cells(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return [cell for item in value for cell in _cells(item)]
    return [value]


def _mentions(value: Any, needles: set[str], id_bytes: set[bytes]) -> str | None:
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return next((n.hex() for n in id_bytes if n in raw), None)
    text = str(value).lower()
    return next((n for n in needles if n in text), None)


async def test_traffic_of_non_consenting_recipients_leaves_no_trace_of_them(
    conn: asyncpg.Connection,
    settings: Settings,
    dsn: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rng = random.Random(20261122)
    proxy = ipaddress.ip_network(f"{CLIENT_ADDRESS[0]}/32")
    runtime = Runtime.from_settings(dataclasses.replace(settings, trusted_proxies=(proxy,)))
    scenario = await make_campaign(conn, links=LINKS)

    consenting = [f"yes{n}@example.org" for n in range(3)]
    never = [f"never{n}@example.org" for n in range(10)]
    withdrew_before = [f"before{n}@example.org" for n in range(8)]
    withdrew_after = [f"after{n}@example.org" for n in range(8)]
    for email in consenting + withdrew_before + withdrew_after:
        await grant(conn, runtime, scenario, email)
    for email in withdrew_before:
        await withdraw(conn, runtime, scenario, email)
    minted = {
        email: await mint_for(conn, runtime, scenario, email)
        for email in consenting + never + withdrew_before + withdrew_after
    }
    for email in withdrew_after:
        assert minted[email].named
        await withdraw(conn, runtime, scenario, email)

    others = never + withdrew_before + withdrew_after
    consenting_ids = set()
    secret_ids: set[int] = set()
    for email, urls in minted.items():
        subject = runtime.signer.verify(path_of(urls.pixel)[3:].removesuffix(".gif")).subject
        recipient_id = await runtime.directory.find(conn, scenario.account_id, email)
        assert recipient_id is not None
        if email in others:
            secret_ids |= {subject, recipient_id}
        else:
            consenting_ids.add(recipient_id)

    # An hourly summary webhook: what it gets is built from everyone's traffic, so it is
    # dumped and searched like every table (its receiver is not there: attempts fail).
    await add_webhook(
        conn, scenario.account_id, "http://127.0.0.1:9/summary", ["human"], hourly_summary=True
    )

    before = await _dump(conn)
    addresses, agents = set(), set()
    caplog.set_level(logging.DEBUG)
    app = create_app(runtime, dsn)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            for n in range(300):
                email = rng.choice(others + consenting)
                address = (
                    f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                    if n % 2
                    else f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(1, 65536):x}"
                )
                agent = f"Mozilla/5.0 (probe-{n}-{rng.randrange(10**6)}) AppleWebKit/605.1.15"
                addresses.add(address)
                agents.add(agent)
                headers = {"user-agent": agent, "x-forwarded-for": address}
                urls = minted[email]
                choice = rng.random()
                if choice < 0.5:
                    response = await client.get(path_of(urls.pixel), headers=headers)
                elif choice < 0.6:
                    response = await client.head(path_of(urls.pixel), headers=headers)
                else:
                    link = urls.links[rng.choice(LINKS)]
                    response = await client.get(path_of(link), headers=headers)
                assert response.status_code in (200, 302)
            hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            await Maintenance(app.state.pool, k=2).run_once(hour + timedelta(hours=1, minutes=6))
    after = await _dump(conn)
    assert len(after["webhook_outbox"]) == 1  # the summary, with the figures in it

    needles = {str(i) for i in secret_ids} | {e.lower() for e in others}
    needles |= {a.lower() for a in addresses} | {a.lower() for a in agents}
    id_bytes = {i.to_bytes(8, "big") for i in secret_ids}
    assert await conn.fetchval("SELECT sum(events) FROM counters") == 300
    for table in MAY_NAME_RECIPIENTS:
        assert after[table] == before[table], f"traffic changed {table}"
    for table, rows in after.items():
        if table in MAY_NAME_RECIPIENTS:
            continue
        new_rows = {repr(r) for r in rows} - {repr(r) for r in before.get(table, [])}
        for row in rows:
            for cell in _cells(row):
                found = _mentions(cell, needles, id_bytes)
                assert found is None, f"{table} holds {found!r}: {row}"
                if (
                    isinstance(cell, datetime)
                    and repr(row) in new_rows
                    and table not in EXACT_TIMES_ALLOWED
                ):
                    assert (cell.minute, cell.second, cell.microsecond) == (0, 0, 0), table
    event_owners = {row["recipient_id"] for row in await conn.fetch("SELECT * FROM events")}
    assert event_owners and event_owners <= consenting_ids

    server_records = [r for r in caplog.records if not r.name.startswith("httpx")]
    logged = "\n".join(r.getMessage() for r in server_records).lower()
    for needle in needles | {path_of(u.pixel)[3:15] for u in minted.values()}:
        assert needle.lower() not in logged
