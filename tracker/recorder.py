"""The group-commit writer behind the pixel and redirect paths.

Request handlers hand a ``Hit`` to ``Recorder.record`` and wait. A single task takes every
hit queued meanwhile and commits them as one group, in one transaction: the per-recipient
events (kept only where consent is granted at the event's time, checked inside the same
transaction), the hourly counters and the HyperLogLog registers. Only then are the waiting
handlers released, so an answered request is never a lost event. A failed commit is retried
with the same group id; ``recorded_groups`` makes the retry count once.
"""

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from aggregates import db as aggregates_db
from aggregates.hll import SketchHasher
from aggregates.report import sketch_name
from consent.cache import CachedConsent, ConsentCache
from consent.db import fetch_states
from tracker import db
from tracker.behaviour import Remark
from tracker.remarks import Corrections, RecentHits

__all__ = ["Hit", "Recorder", "RecorderClosed"]

_logger = logging.getLogger("tracker.recorder")
_RETRYABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class RecorderClosed(Exception):
    """The recorder shut down before this hit's group could be committed."""


@dataclass(slots=True)
class Hit:
    campaign_id: int
    link_no: int  # 0: the pixel
    subject: int  # recipient id or per-message nonce, for the unique estimates only
    recipient_id: int | None  # set only for a named token whose consent may be granted
    consent_known: bool  # the consent cache had an entry when the hit was taken
    at: datetime
    verdict: str
    reasons: tuple[str, ...] = ()
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)


class Recorder:
    def __init__(
        self,
        pool: asyncpg.Pool,
        cache: ConsentCache,
        hasher: SketchHasher,
        *,
        max_batch: int = 2_000,
        take_remarks: Callable[[], list[Remark]] | None = None,
    ) -> None:
        self._pool = pool
        self._cache = cache
        self._hasher = hasher
        self._max_batch = max_batch
        self._take_remarks = take_remarks
        self.recent = RecentHits()
        self._queue: list[tuple[Hit, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.groups_committed = 0
        self.hits_committed = 0
        self.commit_failures = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="recorder")

    async def record(self, hit: Hit) -> None:
        """Return once the hit is committed."""
        if self._closing:
            raise RecorderClosed("the recorder is shutting down")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((hit, future))
        self._wake.set()
        await future

    async def close(self, drain_seconds: float = 10.0) -> None:
        """Commit what is queued (for up to ``drain_seconds``), then stop."""
        self._closing = True
        if self._task is None:
            return
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), drain_seconds)
        except TimeoutError:
            self._task.cancel()
        for _, future in self._queue:
            if not future.done():
                future.set_exception(RecorderClosed("not committed before shutdown"))
        self._queue.clear()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            remarks = self._take_remarks() if self._take_remarks else []
            corrections = self.recent.apply(remarks, [hit for hit, _ in batch])
            await self._commit_until_done(batch, corrections)
            self.recent.add([hit for hit, _ in batch], time.time())

    async def _commit_until_done(
        self, batch: list[tuple[Hit, asyncio.Future[None]]], corrections: Corrections
    ) -> None:
        group_id = uuid.uuid4()
        delay = 0.05
        while True:
            try:
                await self.commit_group(group_id, [hit for hit, _ in batch], corrections)
                break
            except _RETRYABLE as exc:
                self.commit_failures += 1
                _logger.warning(
                    "group commit failed (%s); retrying in %.2f s", exc.__class__.__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self.groups_committed += 1
        self.hits_committed += len(batch)
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    async def commit_group(
        self, group_id: uuid.UUID, hits: list[Hit], corrections: Corrections | None = None
    ) -> None:
        """Commit one group in one transaction; a group id seen before is skipped."""
        corrections = corrections or Corrections()
        events = [
            db.EventRow(
                h.event_id,
                h.campaign_id,
                h.recipient_id,
                h.link_no,
                h.at,
                h.verdict,
                list(h.reasons),
            )
            for h in hits
            if h.recipient_id is not None
        ]
        unknown = list(
            {h.recipient_id for h in hits if h.recipient_id is not None and not h.consent_known}
        )
        increments: Counter[aggregates_db.CounterKey] = Counter()
        decrements: Counter[aggregates_db.CounterKey] = Counter()
        ranks: dict[aggregates_db.RegisterKey, int] = {}
        for hit in hits:
            hour = hit.at.replace(minute=0, second=0, microsecond=0)
            increments[
                aggregates_db.CounterKey(hit.campaign_id, hit.link_no, hour, hit.verdict)
            ] += 1
            self._add_subject(ranks, hit.campaign_id, hit.link_no, hit.verdict, hit.subject)
        for (campaign_id, link_no, hour, verdict), delta in corrections.counters.items():
            key = aggregates_db.CounterKey(campaign_id, link_no, hour, verdict)
            (increments if delta > 0 else decrements)[key] += abs(delta)
        for campaign_id, link_no, subject in corrections.subjects:
            self._add_subject(ranks, campaign_id, link_no, "machine", subject)
        epoch = self._cache.epoch
        async with self._pool.acquire() as conn, conn.transaction():
            if not await db.insert_recorded_group(conn, group_id):
                return  # committed before; the acknowledgement was lost
            await db.insert_consented_events(conn, events)
            await aggregates_db.upsert_counters(conn, +increments)
            await aggregates_db.subtract_counters(conn, +decrements)
            await aggregates_db.upsert_registers(conn, ranks)
            await db.mark_events_machine(conn, corrections.events)
            states = await fetch_states(conn, unknown) if unknown else {}
        for recipient_id in unknown:
            self._cache.put(
                recipient_id,
                CachedConsent.from_state(states.get(recipient_id)),
                read_at_epoch=epoch,
            )

    def _add_subject(
        self,
        ranks: dict[aggregates_db.RegisterKey, int],
        campaign_id: int,
        link_no: int,
        verdict: str,
        subject: int,
    ) -> None:
        register, rank = self._hasher.position(campaign_id, subject)
        key = aggregates_db.RegisterKey(campaign_id, sketch_name(link_no, verdict), register)
        if rank > ranks.get(key, 0):
            ranks[key] = rank
