"""Background upkeep that one process at a time does: hourly consent expiry and event
partitions for the months ahead, and the daily retention purge."""

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import asyncpg

from consent.ledger import expire_lapsed
from consent.retention import purge
from tracker import db
from tracker.summaries import queue_hourly_summaries

__all__ = ["Maintenance"]

_LOCK_KEY = 0x7472_6163_6B01  # one maintenance run at a time across all processes
_logger = logging.getLogger("tracker.maintenance")


class Maintenance:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        interval: float = 3600.0,
        purge_every: timedelta = timedelta(days=1),
        k: int = 5,
    ) -> None:
        self._pool = pool
        self._k = k
        self._interval = interval
        self._purge_every = purge_every
        self._last_purge: datetime | None = None

    async def run_once(self, now: datetime | None = None) -> bool:
        """One round; False if another process holds the maintenance lock."""
        now = now or datetime.now(UTC)
        async with self._pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY):
                return False
            try:
                await db.ensure_event_partitions(conn, now, months_ahead=2)
                expired = await expire_lapsed(conn, now)
                if expired:
                    _logger.info("recorded %d lapsed consents as expired", expired)
                summaries = await queue_hourly_summaries(conn, now, self._k)
                if summaries:
                    _logger.info("queued %d hourly campaign summaries", summaries)
                if self._last_purge is None or now - self._last_purge >= self._purge_every:
                    result = await purge(conn, now, "server:daily")
                    self._last_purge = now
                    _logger.info(
                        "retention purge: %d partitions dropped, %d events and %d "
                        "ledger rows removed",
                        len(result.dropped_partitions),
                        result.events_deleted,
                        result.ledger_rows_purged,
                    )
            except asyncio.CancelledError:
                # Stopped mid-statement: the connection cannot take another one now. The
                # pool's reset on release (pg_advisory_unlock_all) or its closing of the
                # connection frees the lock.
                raise
            except Exception:
                with contextlib.suppress(Exception):  # the pool's reset frees it otherwise
                    await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
                raise
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
            return True

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                _logger.warning(
                    "maintenance failed (%s); trying again later", exc.__class__.__name__
                )
            await asyncio.sleep(self._interval)
