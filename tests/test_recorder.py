"""An answered request is never a lost event: responses wait for their group's commit."""

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime

import asyncpg
import httpx
from starlette.applications import Starlette

from aggregates.db import CounterKey
from tests.factories import make_campaign, mint_for, path_of
from tracker.groups import Group
from tracker.runtime import Runtime


async def test_no_response_goes_out_while_its_commit_is_blocked(
    conn: asyncpg.Connection, runtime: Runtime, dsn: str, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    minted = [await mint_for(conn, runtime, scenario, f"r{n}@example.org") for n in range(40)]
    for urls in minted[:20]:
        assert (await client.get(path_of(urls.pixel))).status_code == 200
    assert await conn.fetchval("SELECT sum(events) FROM counters") == 20

    locker = await asyncpg.connect(dsn)
    blocking = locker.transaction()
    await blocking.start()
    await locker.execute("LOCK TABLE counters IN EXCLUSIVE MODE")  # readers pass, writers wait
    pending = [asyncio.create_task(client.get(path_of(u.pixel))) for u in minted[20:]]
    await asyncio.sleep(1.0)
    answered = sum(task.done() for task in pending)
    committed = await conn.fetchval("SELECT sum(events) FROM counters")
    assert answered == 0
    assert committed == 20

    await blocking.rollback()
    await locker.close()
    responses = await asyncio.gather(*pending)
    assert all(response.status_code == 200 for response in responses)
    assert await conn.fetchval("SELECT sum(events) FROM counters") == 40


async def test_a_commit_cut_off_by_a_dropped_connection_is_retried_and_counted_once(
    conn: asyncpg.Connection, runtime: Runtime, app: Starlette, dsn: str, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    urls = await mint_for(conn, runtime, scenario, "bob@example.org")
    locker = await asyncpg.connect(dsn)
    blocking = locker.transaction()
    await blocking.start()
    await locker.execute("LOCK TABLE counters IN EXCLUSIVE MODE")
    pending = [asyncio.create_task(client.get(path_of(urls.pixel))) for _ in range(50)]
    waiting_writer = None
    for _ in range(100):
        waiting_writer = await conn.fetchval(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting_writer:
            break
        await asyncio.sleep(0.02)
    assert waiting_writer is not None
    assert await conn.fetchval("SELECT pg_terminate_backend($1)", waiting_writer)
    await blocking.rollback()
    await locker.close()

    responses = await asyncio.gather(*pending)
    assert [r.status_code for r in responses] == [200] * 50
    assert app.state.tracking.recorder.commit_failures >= 1
    for _ in range(50):  # the group went to the spool; it is replayed within a second or two
        if await conn.fetchval("SELECT sum(events) FROM counters") == 50:
            break
        await asyncio.sleep(0.1)
    assert await conn.fetchval("SELECT sum(events) FROM counters") == 50
    assert not app.state.tracking.recorder.degraded


async def test_a_group_committed_twice_counts_once(
    conn: asyncpg.Connection, runtime: Runtime, app: Starlette
) -> None:
    scenario = await make_campaign(conn)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    group = Group(
        uuid.uuid4(), increments=Counter({CounterKey(scenario.campaign.id, 0, hour, "human"): 3})
    )
    recorder = app.state.tracking.recorder
    await recorder.commit_group(group)
    await recorder.commit_group(group)  # e.g. the acknowledgement was lost, or a replay
    assert await conn.fetchval("SELECT sum(events) FROM counters") == 3
