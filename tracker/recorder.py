"""The group-commit writer behind the pixel and redirect paths.

Request handlers hand a ``Hit`` to ``Recorder.record`` and wait. A single task takes every
hit queued meanwhile and commits them as one group, in one transaction: the per-recipient
events (kept only where consent is granted at the event's time, checked inside the same
transaction), the hourly counters and the HyperLogLog registers. Only then are the waiting
handlers released, so an answered request is never a lost event.

If PostgreSQL cannot be reached, the group goes to the local spool instead (fsync'd before
the handlers are released) and the recorder turns degraded: later groups go straight to
the spool, and once a second it tries to replay the spool. Replay and retries are
exactly-once: ``recorded_groups`` refuses a group id it has seen.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from aggregates.db import CounterKey, RegisterKey
from aggregates.hll import SketchHasher
from aggregates.report import sketch_name
from consent.cache import CachedConsent, ConsentCache
from consent.db import fetch_states
from tracker import db
from tracker.behaviour import Remark
from tracker.groups import Group
from tracker.metrics import Metrics
from tracker.remarks import Corrections, RecentHits
from tracker.spool import Spool

__all__ = ["Hit", "Recorder", "RecorderClosed"]

_logger = logging.getLogger("tracker.recorder")
# PostgreSQL is not there (spool at once) ...
_UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)
# ... or refused this once (retry a few times, then spool).
_TRANSIENT = (asyncpg.PostgresError,)
_RETRIES = 5


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
    event_id: uuid.UUID | None = None  # given to the hits that may become event rows

    def __post_init__(self) -> None:
        if self.recipient_id is not None and self.event_id is None:
            self.event_id = uuid.uuid4()


class Recorder:
    def __init__(
        self,
        pool: asyncpg.Pool,
        cache: ConsentCache,
        hasher: SketchHasher,
        *,
        spool: Spool | None = None,
        max_batch: int = 2_000,
        take_remarks: Callable[[], list[Remark]] | None = None,
        metrics: Metrics | None = None,
        webhook_hold_seconds: float = 30.0,
    ) -> None:
        self._pool = pool
        self._cache = cache
        self._hasher = hasher
        self._spool = spool
        self._max_batch = max_batch
        self._take_remarks = take_remarks
        self._metrics = metrics
        self._webhook_hold = webhook_hold_seconds
        self.recent = RecentHits()
        self._queue: list[tuple[Hit, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.degraded = bool(spool and spool.waiting())
        self.groups_committed = 0
        self.hits_committed = 0
        self.groups_spooled = 0
        self.commit_failures = 0
        self.last_group_size = 0
        self.last_commit_seconds = 0.0

    @property
    def spool_depth(self) -> int:
        return self._spool.depth if self._spool else 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="recorder")
        self._task.add_done_callback(_report_death)

    def record(self, hit: Hit) -> "asyncio.Future[None]":
        """Queue the hit; the future is done once it is committed, or spooled to disk.
        (A plain function returning the future: one coroutine less to resume per request.)"""
        if self._closing:
            raise RecorderClosed("the recorder is shutting down")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((hit, future))
        self._wake.set()
        return future

    async def close(self, drain_seconds: float = 10.0) -> None:
        """Commit (or spool) what is queued, for up to ``drain_seconds``, then stop."""
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
        if self._spool is not None:
            self._spool.close()

    async def _run(self) -> None:
        while True:
            if self.degraded:
                await self._replay()
            if not self._queue:
                if self._closing:
                    return
                try:
                    await asyncio.wait_for(self._wake.wait(), 1.0 if self.degraded else None)
                except TimeoutError:
                    continue
                self._wake.clear()
                continue
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            hits = [hit for hit, _ in batch]
            remarks = self._take_remarks() if self._take_remarks else []
            corrections = self.recent.apply(remarks, hits)
            await self._write(self.group_of(hits, corrections))
            self.recent.add(hits, time.time())
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def _write(self, group: Group) -> None:
        """Commit the group, or spool it; returns only when one of them happened."""
        if self.degraded and self._spool is not None:
            self._spool_group(group)
            return
        delay, attempts = 0.05, 0
        while True:
            try:
                await self.commit_group(group)
                return
            except _UNREACHABLE as exc:
                self.commit_failures += 1
                if self._spool is not None:
                    _logger.warning(
                        "PostgreSQL unreachable (%s); spooling to disk", exc.__class__.__name__
                    )
                    self.degraded = True
                    self._spool_group(group)
                    return
            except Exception as exc:  # refused this once, or a bug: never lose the group
                self.commit_failures += 1
                attempts += 1
                if attempts > _RETRIES and self._spool is not None:
                    _logger.error("group commit keeps failing; spooling it", exc_info=exc)
                    self._spool_group(group)
                    return
                _logger.warning("group commit failed (%s); retrying", exc.__class__.__name__)
            # Without a spool the requests wait until PostgreSQL takes the group.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _spool_group(self, group: Group) -> None:
        assert self._spool is not None
        self._spool.append(group)
        self.groups_spooled += 1
        if self._metrics is not None:
            self._metrics.spooled.inc()

    async def _replay(self) -> None:
        """Replay every waiting spool file; leave degraded mode once all are in."""
        assert self._spool is not None
        for path in self._spool.waiting():
            try:
                for group in self._spool.read(path):
                    try:
                        await self.commit_group(group)
                    except _TRANSIENT as exc:
                        _logger.error(
                            "a spooled group is refused (%s); set aside", exc.__class__.__name__
                        )
                        self._spool.set_aside(path, group)
            except _UNREACHABLE:
                return  # still down; try again in a second
            except Exception:
                _logger.exception("replaying %s failed; trying again in a second", path.name)
                return
            self._spool.done(path)
        if self.degraded:
            _logger.info("PostgreSQL is back; the spool is replayed")
        self.degraded = False

    def group_of(self, hits: list[Hit], corrections: Corrections) -> Group:
        """The group that commits these hits (with a new id) and these corrections."""
        group = Group(uuid.uuid4())
        increments, add_subject = group.increments, self._subject_adder(group)
        for hit in hits:  # written out flat: this loop runs for every request
            campaign_id, link_no, verdict, at = hit.campaign_id, hit.link_no, hit.verdict, hit.at
            if hit.recipient_id is not None:
                assert hit.event_id is not None
                event = db.EventRow(
                    hit.event_id,
                    campaign_id,
                    hit.recipient_id,
                    link_no,
                    at,
                    verdict,
                    list(hit.reasons),
                )
                (group.known_events if hit.consent_known else group.candidate_events).append(event)
            hour = at.replace(minute=0, second=0, microsecond=0)
            increments[CounterKey(campaign_id, link_no, hour, verdict)] += 1
            add_subject(campaign_id, link_no, verdict, hit.subject)
        for (campaign_id, link_no, hour, verdict), delta in corrections.counters.items():
            key = CounterKey(campaign_id, link_no, hour, verdict)
            (group.increments if delta > 0 else group.decrements)[key] += abs(delta)
        for campaign_id, link_no, subject in corrections.subjects:
            add_subject(campaign_id, link_no, "machine", subject)
        group.machine_events.update(corrections.events)
        return group

    def _subject_adder(self, group: Group) -> Callable[[int, int, str, int], None]:
        """A function adding one subject to the group's HyperLogLog registers."""
        position, ranks = self._hasher.position, group.ranks

        def add_subject(campaign_id: int, link_no: int, verdict: str, subject: int) -> None:
            register, rank = position(campaign_id, subject)
            key = RegisterKey(campaign_id, sketch_name(link_no, verdict), register)
            if rank > ranks.get(key, 0):
                ranks[key] = rank

        return add_subject

    async def commit_group(self, group: Group) -> None:
        """Commit one group in one transaction; a group id seen before is skipped."""
        unknown = group.unknown_recipients
        epoch = self._cache.epoch
        started = time.perf_counter()
        async with self._pool.acquire(timeout=5) as conn:
            fresh = await db.record_group(
                conn,
                group.id,
                group.events,
                group.increments,
                group.decrements,
                group.ranks,
                group.machine_events,
                self._webhook_hold,
            )
            if not fresh:
                return  # committed before; the acknowledgement was lost
            states = await fetch_states(conn, unknown) if unknown else {}
        self.last_commit_seconds = time.perf_counter() - started
        self.last_group_size = int(sum(group.increments.values()))
        self.groups_committed += 1
        self.hits_committed += self.last_group_size
        if self._metrics is not None:
            self._metrics.group_size.observe(self.last_group_size)
            self._metrics.commit_seconds.observe(self.last_commit_seconds)
        for recipient_id in unknown:
            self._cache.put(
                recipient_id,
                CachedConsent.from_state(states.get(recipient_id)),
                read_at_epoch=epoch,
            )


def _report_death(task: "asyncio.Task[None]") -> None:
    if not task.cancelled() and task.exception() is not None:
        _logger.critical("the recorder stopped", exc_info=task.exception())
