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


class RecentHits:
    """Committed hits of the last ``window`` seconds, at most ``max_hits`` of them."""

    def __init__(self, window: float = 180.0, max_hits: int = 200_000) -> None:
        self._window = window
        self._max_hits = max_hits
        self._count = 0
        self._by_message: OrderedDict[tuple[int, int], list[Hit]] = OrderedDict()

    def __len__(self) -> int:
        return self._count

    def add(self, hits: list["Hit"], now: float) -> None:
        for hit in hits:
            key = (hit.campaign_id, hit.subject)
            self._by_message.setdefault(key, []).append(hit)
            self._by_message.move_to_end(key)
            self._count += 1
        self._prune(now)

    def apply(self, remarks: list[Remark], pending: list["Hit"]) -> Corrections:
        """Re-mark pending hits in place; return the corrections for committed ones."""
        corrections = Corrections()
        for remark in remarks:
            key = (int(remark.campaign), int(remark.subject))
            for hit in pending:
                if (hit.campaign_id, hit.subject) == key and _within(hit, remark):
                    _remark(hit, remark.reason)
            for hit in self._by_message.get(key, []):
                if _within(hit, remark) and hit.verdict != "machine":
                    _correct(hit, remark.reason, corrections)
        return corrections

    def _prune(self, now: float) -> None:
        while self._by_message:
            key, hits = next(iter(self._by_message.items()))
            newest = max(hit.at.timestamp() for hit in hits)
            if newest >= now - self._window and self._count <= self._max_hits:
                return
            del self._by_message[key]
            self._count -= len(hits)


def _within(hit: "Hit", remark: Remark) -> bool:
    return remark.since <= hit.at.timestamp() <= remark.until


def _remark(hit: "Hit", reason: str) -> None:
    hit.verdict = "machine"
    if reason not in hit.reasons:
        hit.reasons = (*hit.reasons, reason)


def _correct(hit: "Hit", reason: str, corrections: Corrections) -> None:
    hour = hit.at.replace(minute=0, second=0, microsecond=0)
    corrections.counters[(hit.campaign_id, hit.link_no, hour, hit.verdict)] -= 1
    corrections.counters[(hit.campaign_id, hit.link_no, hour, "machine")] += 1
    corrections.subjects.append((hit.campaign_id, hit.link_no, hit.subject))
    if hit.recipient_id is not None:
        corrections.events[(hit.event_id, hit.at)] = reason
    _remark(hit, reason)
