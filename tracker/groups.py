"""What one group commit writes, as data: built from hits, committed, or spooled.

A group holds the per-recipient event rows (each marked whether the process's consent
cache knew the consent to be granted), the counter increments and decrements, the
HyperLogLog register updates, and events to re-mark as machine. Its spooled form keeps only
what may be kept: counts, register positions, and the events of recipients known to have
consented. Nothing in it names or singles out anyone else.
"""

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aggregates.db import CounterKey, RegisterKey
from tracker.db import EventRow

__all__ = ["Group"]


@dataclass
class Group:
    id: uuid.UUID
    known_events: list[EventRow] = field(default_factory=list)  # consent known granted
    candidate_events: list[EventRow] = field(default_factory=list)  # consent unknown here
    increments: Counter[CounterKey] = field(default_factory=Counter)
    decrements: Counter[CounterKey] = field(default_factory=Counter)
    ranks: dict[RegisterKey, int] = field(default_factory=dict)
    machine_events: dict[tuple[uuid.UUID, datetime], str] = field(default_factory=dict)

    @property
    def events(self) -> list[EventRow]:
        return self.known_events + self.candidate_events

    @property
    def unknown_recipients(self) -> list[int]:
        return list({event.recipient_id for event in self.candidate_events})

    def to_spool(self) -> str:
        """One JSON line; events whose consent was not known to be granted are left out."""
        return json.dumps(
            {
                "id": str(self.id),
                "events": [
                    [
                        str(e.id),
                        e.campaign_id,
                        e.recipient_id,
                        e.link_no,
                        e.at.isoformat(),
                        e.verdict,
                        e.reasons,
                    ]
                    for e in self.known_events
                ],
                "increments": [_counter(k, n) for k, n in self.increments.items()],
                "decrements": [_counter(k, n) for k, n in self.decrements.items()],
                "ranks": [[k.campaign_id, k.sketch, k.register, r] for k, r in self.ranks.items()],
                "machine": [
                    [str(i), at.isoformat(), reason]
                    for (i, at), reason in self.machine_events.items()
                ],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_spool(cls, line: str) -> "Group":
        data = json.loads(line)
        return cls(
            id=uuid.UUID(data["id"]),
            known_events=[
                EventRow(uuid.UUID(i), c, r, link, datetime.fromisoformat(at), v, list(reasons))
                for i, c, r, link, at, v, reasons in data["events"]
            ],
            increments=Counter({_counter_key(item): item[4] for item in data["increments"]}),
            decrements=Counter({_counter_key(item): item[4] for item in data["decrements"]}),
            ranks={RegisterKey(c, s, reg): rank for c, s, reg, rank in data["ranks"]},
            machine_events={
                (uuid.UUID(i), datetime.fromisoformat(at)): reason
                for i, at, reason in data["machine"]
            },
        )


def _counter(key: CounterKey, count: int) -> list[Any]:
    return [key.campaign_id, key.link_no, key.hour.isoformat(), key.verdict, count]


def _counter_key(item: list[Any]) -> CounterKey:
    return CounterKey(item[0], item[1], datetime.fromisoformat(item[2]), item[3])
