"""How many rows a second one PostgreSQL takes from the recorder: events and counters.

Commits groups the way the recorder does (``Recorder.commit_group``), each of GROUP hits
spread over many campaigns and hours, a tenth of them consenting recipients' events, for
SECONDS seconds, from one or more concurrent writers (one per server process), and prints
hits/s, event rows/s and counter upserts/s.

    .venv/bin/python -m tests.bench.bench_writes [--seconds 10] [--group 500] [--writers 2]

Uses DATABASE_URL (a scratch database is created and dropped) or a throwaway embedded
PostgreSQL.
"""

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from aggregates.hll import SketchHasher
from consent.cache import ConsentCache
from tests.dsn import with_database
from tracker.database import start_embedded
from tracker.migrations import apply_migrations, default_sql_dir
from tracker.recorder import Hit, Recorder
from tracker.remarks import Corrections

CAMPAIGNS = 200
RECIPIENTS = 1000


async def prepare(conn: asyncpg.Connection) -> None:
    await apply_migrations(conn, default_sql_dir())
    await conn.execute("INSERT INTO accounts (id, name) VALUES (1, 'bench')")
    await conn.execute(
        "INSERT INTO campaigns (id, account_id, name)"
        " SELECT g, 1, 'c' || g FROM generate_series(1, $1) g",
        CAMPAIGNS,
    )
    await conn.execute(
        "INSERT INTO recipients (id, account_id) SELECT g, 1 FROM generate_series(1, $1) g",
        RECIPIENTS,
    )
    await conn.execute(
        "INSERT INTO consent_state (recipient_id, account_id, state, granted_at, expires_at,"
        " changed_at, purpose_version) SELECT g, 1, 'granted', now() - interval '1 day',"
        " now() + interval '1 year', now(), 1 FROM generate_series(1, $1) g",
        RECIPIENTS,
    )


def hits(rng: random.Random, count: int) -> list[Hit]:
    now = datetime.now(UTC)
    result = []
    for _ in range(count):
        named = rng.random() < 0.1
        recipient = rng.randrange(1, RECIPIENTS + 1)
        result.append(
            Hit(
                campaign_id=rng.randrange(1, CAMPAIGNS + 1),
                link_no=rng.choice((0, 0, 1, 2)),
                subject=recipient if named else rng.getrandbits(63),
                recipient_id=recipient if named else None,
                consent_known=True,
                at=now - timedelta(minutes=rng.randrange(0, 600)),
                verdict=rng.choice(("human", "human", "proxy", "machine")),
            )
        )
    return result


async def writer(pool: asyncpg.Pool, seconds: float, group_size: int, seed: int) -> int:
    recorder = Recorder(pool, ConsentCache(10), SketchHasher(b"k" * 32))
    rng = random.Random(seed)
    deadline, total = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        batch = hits(rng, group_size)
        await recorder.commit_group(recorder.group_of(batch, Corrections()))
        total += len(batch)
    return total


async def measure(dsn: str, seconds: float, group_size: int, writers: int) -> None:
    conn = await asyncpg.connect(dsn)
    await prepare(conn)
    pool = await asyncpg.create_pool(dsn, min_size=writers, max_size=writers)
    assert pool is not None
    started = time.perf_counter()
    totals = await asyncio.gather(*(writer(pool, seconds, group_size, n) for n in range(writers)))
    elapsed = time.perf_counter() - started
    events = await conn.fetchval("SELECT count(*) FROM events")
    counters = await conn.fetchval("SELECT count(*) FROM counters")
    await pool.close()
    await conn.close()
    hits_total = sum(totals)
    print(f"{writers} writer(s), groups of {group_size}, {elapsed:.1f} s")
    print(f"hits committed:   {hits_total:>9,}  ({hits_total / elapsed:,.0f}/s)")
    print(f"event rows:       {events:>9,}  ({events / elapsed:,.0f}/s)")
    print(f"counter rows now: {counters:>9,}  (upserted in every group)")


async def run(admin_dsn: str, args: argparse.Namespace) -> None:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await measure(with_database(admin_dsn, name), args.seconds, args.group, args.writers)
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--group", type=int, default=500)
    parser.add_argument("--writers", type=int, default=2)
    args = parser.parse_args()
    if os.environ.get("DATABASE_URL"):
        asyncio.run(run(os.environ["DATABASE_URL"], args))
        return
    with tempfile.TemporaryDirectory() as folder:
        server = start_embedded(Path(folder) / "pg")
        try:
            asyncio.run(run(str(server.get_uri(database="postgres")), args))
        finally:
            server.cleanup()


if __name__ == "__main__":
    main()
