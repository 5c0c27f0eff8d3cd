"""What retention costs: dropping month partitions against deleting the same rows.

Fills the partitioned ``events`` table and an unpartitioned copy with the same N events
spread over twelve months, then times ``consent.retention.purge`` (which drops the months
past retention) against ``DELETE`` of the same rows from the copy, in the same run.

    .venv/bin/python -m tests.bench.bench_purge [--rows 2000000]

Uses DATABASE_URL (an administrative connection; a scratch database is created and
dropped) or a throwaway embedded PostgreSQL.
"""

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from consent.retention import purge
from tests.dsn import with_database
from tracker.database import start_embedded
from tracker.migrations import apply_migrations, default_sql_dir

NOW = datetime(2027, 1, 15, tzinfo=UTC)


async def fill(conn: asyncpg.Connection, rows: int) -> None:
    await conn.execute("INSERT INTO accounts (id, name, retention_days) VALUES (1, 'bench', 180)")
    await conn.execute("INSERT INTO campaigns (id, account_id, name) VALUES (1, 1, 'bench')")
    await conn.execute(
        "INSERT INTO recipients (id, account_id) SELECT g, 1 FROM generate_series(1, 1000) g"
    )
    for month in range(12):
        await conn.execute(
            "SELECT ensure_events_partition(($1::date - $2 * interval '1 month')::date)",
            NOW.date(),
            month,
        )
    await conn.execute(
        "INSERT INTO events (id, campaign_id, recipient_id, link_no, at, verdict)"
        " SELECT gen_random_uuid(), 1, 1 + g % 1000, g % 4,"
        "        $2::timestamptz - (g % 360) * interval '1 day', 'human'"
        " FROM generate_series(1, $1) g",
        rows,
        NOW,
    )
    # The same columns, primary key and indexes as the partitioned table.
    await conn.execute("CREATE TABLE events_flat (LIKE events INCLUDING ALL)")
    await conn.execute("CREATE INDEX ON events_flat (at)")
    await conn.execute("INSERT INTO events_flat SELECT * FROM events")
    await conn.execute("ANALYZE")


async def measure(dsn: str, rows: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn, default_sql_dir())
        started = time.perf_counter()
        await fill(conn, rows)
        print(f"filled {rows:,} events in {time.perf_counter() - started:.1f} s")
        cutoff = await conn.fetchval("SELECT $1::timestamptz - interval '180 days'", NOW)
        doomed = await conn.fetchval("SELECT count(*) FROM events WHERE at < $1", cutoff)

        # Both sides include the VACUUM that reclaims deleted rows: a dropped partition
        # needs none, a DELETE leaves every row behind as a dead tuple.
        started = time.perf_counter()
        result = await purge(conn, NOW, "bench")
        await conn.execute("VACUUM events")
        drop_seconds = time.perf_counter() - started
        started = time.perf_counter()
        deleted = await conn.execute("DELETE FROM events_flat WHERE at < $1", cutoff)
        await conn.execute("VACUUM events_flat")
        delete_seconds = time.perf_counter() - started
    finally:
        await conn.close()
    print(f"rows past retention: {doomed:,}")
    print(
        f"purge + VACUUM (partition drops + remainder): {drop_seconds:.3f} s, dropped "
        f"{len(result.dropped_partitions)} partitions, deleted {result.events_deleted:,} more"
    )
    print(f"DELETE + VACUUM on an unpartitioned table:    {delete_seconds:.3f} s ({deleted})")
    print(f"ratio DELETE / purge: {delete_seconds / drop_seconds:.1f}x")


async def run(admin_dsn: str, rows: int) -> None:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await measure(with_database(admin_dsn, name), rows)
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    if os.environ.get("DATABASE_URL"):
        asyncio.run(run(os.environ["DATABASE_URL"], args.rows))
        return
    with tempfile.TemporaryDirectory() as folder:
        server = start_embedded(Path(folder) / "pg")
        try:
            asyncio.run(run(str(server.get_uri(database="postgres")), args.rows))
        finally:
            server.cleanup()


if __name__ == "__main__":
    main()
