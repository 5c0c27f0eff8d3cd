"""Background upkeep that one process at a time does: expiring lapsed consents hourly."""

import asyncio
import logging
from datetime import UTC, datetime

import asyncpg

from consent.ledger import expire_lapsed

__all__ = ["run_maintenance", "run_once"]

_LOCK_KEY = 0x7472_6163_6B01  # one maintenance run at a time across all processes
_logger = logging.getLogger("tracker.maintenance")


async def run_once(pool: asyncpg.Pool, now: datetime | None = None) -> int | None:
    """One round; None if another process holds the maintenance lock."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY):
            return None
        try:
            return await expire_lapsed(conn, now or datetime.now(UTC))
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def run_maintenance(pool: asyncpg.Pool, interval: float = 3600.0) -> None:
    while True:
        try:
            expired = await run_once(pool)
            if expired:
                _logger.info("recorded %d lapsed consents as expired", expired)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _logger.warning("maintenance failed (%s); trying again later", exc.__class__.__name__)
        await asyncio.sleep(interval)
