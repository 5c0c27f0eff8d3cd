"""Each process's cache of consent states, kept fresh by PostgreSQL LISTEN/NOTIFY.

The cache answers "may this named request be recorded per recipient?" without a database
round trip. It is an optimisation and the answer for outages: the recorder's insert checks
consent again inside its commit, so a stale entry can never record an event after a
withdrawal. Unknown means not cached; the recorder then decides in SQL and fills the cache.
"""

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from consent.db import StateRow

__all__ = ["CHANNEL", "CachedConsent", "ConsentCache"]

CHANNEL = "consent_changed"
_logger = logging.getLogger("tracker.consent")


@dataclass(frozen=True, slots=True)
class CachedConsent:
    granted_at: datetime | None  # None: not granted
    expires_at: datetime | None

    @classmethod
    def from_state(cls, row: StateRow | None) -> "CachedConsent":
        if row is None or row.state != "granted" or not row.purpose_current:
            return cls(None, None)
        return cls(row.granted_at, row.expires_at)

    def allows(self, at: datetime) -> bool:
        return (
            self.granted_at is not None
            and self.expires_at is not None
            and self.granted_at <= at < self.expires_at
        )


class ConsentCache:
    def __init__(self, max_size: int) -> None:
        self._entries: OrderedDict[int, CachedConsent] = OrderedDict()
        self._max_size = max_size
        self.epoch = 0  # bumped on every invalidation; see put()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, recipient_id: int) -> CachedConsent | None:
        entry = self._entries.get(recipient_id)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(recipient_id)
        return entry

    def put(self, recipient_id: int, entry: CachedConsent, *, read_at_epoch: int) -> None:
        """Cache a state read while the epoch was ``read_at_epoch``.

        If an invalidation arrived since, the read may predate the change: skip it.
        """
        if read_at_epoch != self.epoch:
            return
        self._entries[recipient_id] = entry
        self._entries.move_to_end(recipient_id)
        while len(self._entries) > self._max_size:
            self._entries.popitem(last=False)

    def invalidate(self, recipient_id: int) -> None:
        self.epoch += 1
        self._entries.pop(recipient_id, None)

    def clear(self) -> None:
        self.epoch += 1
        self._entries.clear()

    async def listen(self, dsn: str, ready: asyncio.Event | None = None) -> None:
        """Follow the change channel for ever, reconnecting (and clearing) after a break."""
        delay = 0.1
        while True:
            try:
                conn = await asyncpg.connect(dsn, timeout=10)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            closed = asyncio.Event()
            try:
                conn.add_termination_listener(lambda _conn, closed=closed: closed.set())
                await conn.add_listener(CHANNEL, self._notified)
                self.clear()  # notifications may have been missed while disconnected
                delay = 0.1
                if ready is not None:
                    ready.set()
                await closed.wait()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                _logger.warning("consent listener lost its connection; reconnecting")
            finally:
                if not conn.is_closed():
                    await conn.close()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            self.invalidate(int(str(payload)))
        except ValueError:
            self.clear()
