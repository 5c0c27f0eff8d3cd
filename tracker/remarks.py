"""Applying the classifier's later remarks to hits already taken.

A honeypot click, a burst or a run of links can show that a message's earlier requests were
a machine's. The classifier then hands out a ``Remark`` (campaign, subject, time window,
reason). The recorder keeps the hits of the last few minutes here, keyed by message, and
turns each remark into corrections: hits not yet committed simply change their verdict;
committed ones move their count from human or proxy to machine in the hourly counters, add
the subject to the machine sketch (HyperLogLog cannot forget, so the old verdict's estimate
keeps it), and turn consenting recipients' event rows to machine.
"""

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from tracker.behaviour import Remark

if TYPE_CHECKING:
    from tracker.recorder import Hit

__all__ = ["Corrections", "RecentHits"]


@dataclass
class Corrections:
    counters: Counter[tuple[int, int, datetime, str]] = field(default_factory=Counter)
    subjects: list[tuple[int, int, int]] = field(default_factory=list)  # campaign, link, subject
    events: dict[tuple[UUID, datetime], str] = field(default_factory=dict)  # -> reason

    def __bool__(self) -> bool:
        return bool(self.counters or self.subjects or self.events)


# A committed hit as kept here: (at, at as a timestamp, link_no, verdict, event id as an
# int or None). Tuples of atoms, so that the garbage collector stops tracking them: a
# full collection over a few hundred thousand tracked objects pauses the server for tens
# of milliseconds, which is what the p99 latency would show.
_Seen = tuple[datetime, float, int, str, int | None]


class RecentHits:
    """Committed hits of the last ``window`` seconds, at most ``max_hits`` of them, and at
    most ``per_message`` per message (its latest: a message fetched more often than that in
    the window is a machine's anyway, and keeping them all would copy a growing tuple on
    every hit)."""

    def __init__(
        self, window: float = 180.0, max_hits: int = 200_000, per_message: int = 64
    ) -> None:
        self._window = window
        self._max_hits = max_hits
        self._per_message = per_message
        self._count = 0
        # Least recently added-to message first, with the time hits were last added to it.
        self._by_message: OrderedDict[tuple[int, int], tuple[_Seen, ...]] = OrderedDict()
        self._added_at: dict[tuple[int, int], float] = {}

    def __len__(self) -> int:
        return self._count

    def add(self, hits: list["Hit"], now: float) -> None:
        by_message, added_at, keep = self._by_message, self._added_at, self._per_message
        for hit in hits:
            key = (hit.campaign_id, hit.subject)
            event = hit.event_id.int if hit.event_id is not None else None
            seen = (hit.at, hit.at.timestamp(), hit.link_no, hit.verdict, event)
            kept = by_message.get(key, ())
            if len(kept) >= keep:
                self._count -= len(kept) - keep + 1
                kept = kept[len(kept) - keep + 1 :]
            by_message[key] = (*kept, seen)
            by_message.move_to_end(key)
            added_at[key] = now
        self._count += len(hits)
        self._prune(now)

    def apply(self, remarks: list[Remark], pending: list["Hit"]) -> Corrections:
        """Re-mark pending hits in place; return the corrections for committed ones."""
        corrections = Corrections()
        for remark in remarks:
            key = (int(remark.campaign), int(remark.subject))
            for hit in pending:
                if (hit.campaign_id, hit.subject) == key and _within(hit, remark):
                    _remark(hit, remark.reason)
            seen = self._by_message.get(key)
            if seen:
                self._by_message[key] = tuple(
                    _correct(key, entry, remark, corrections) for entry in seen
                )
        return corrections

    def _prune(self, now: float) -> None:
        while self._by_message:
            key = next(iter(self._by_message))
            if self._added_at[key] >= now - self._window and self._count <= self._max_hits:
                return
            self._count -= len(self._by_message.pop(key))
            del self._added_at[key]


def _within(hit: "Hit", remark: Remark) -> bool:
    return remark.since <= hit.at.timestamp() <= remark.until


def _remark(hit: "Hit", reason: str) -> None:
    hit.verdict = "machine"
    if reason not in hit.reasons:
        hit.reasons = (*hit.reasons, reason)


def _correct(key: tuple[int, int], seen: _Seen, remark: Remark, corrections: Corrections) -> _Seen:
    """The committed hit, moved to machine if the remark covers it (with its corrections)."""
    at, timestamp, link_no, verdict, event = seen
    if verdict == "machine" or not remark.since <= timestamp <= remark.until:
        return seen
    campaign_id, subject = key
    hour = at.replace(minute=0, second=0, microsecond=0)
    corrections.counters[(campaign_id, link_no, hour, verdict)] -= 1
    corrections.counters[(campaign_id, link_no, hour, "machine")] += 1
    corrections.subjects.append((campaign_id, link_no, subject))
    if event is not None:
        corrections.events[(UUID(int=event), at)] = remark.reason
    return (at, timestamp, link_no, "machine", event)
