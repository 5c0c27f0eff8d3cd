"""Hourly anonymous campaign summaries, for webhooks subscribed to them (SPEC 11).

Nothing per person is ever sent for a recipient who has not consented; an account that
wants figures pushed to it subscribes a webhook to a summary instead: once an hour is over,
one POST with each campaign's opens and clicks of that hour, by verdict, under the same k
rule as the reports (a figure under k is null). Queued by the maintenance round into the
same outbox as events, so delivery, retries and replay are the same; each webhook gets each
hour once, whichever process queues it.
"""

import json
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from aggregates.report import VERDICTS, k_split
from tracker import webhooks_db
from tracker.database import Connection
from tracker.ids import format_id

__all__ = ["queue_hourly_summaries", "summary_payload"]

# An hour is summed up this long after it ended (late corrections move counts for a few
# minutes), and missed hours are caught up this far back.
_SETTLE = timedelta(minutes=5)
_CATCH_UP_HOURS = 3


async def queue_hourly_summaries(conn: Connection, now: datetime, k: int) -> int:
    """Queue the summaries of the last complete hours that are due; returns how many."""
    last = (now - _SETTLE).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    queued = 0
    for back in range(_CATCH_UP_HOURS):
        hour = last - timedelta(hours=back)
        for webhook_id, account_id in await webhooks_db.fetch_summary_subscriptions(conn, hour):
            rows = await webhooks_db.fetch_hour_counts(conn, account_id, hour)
            if not rows:
                continue  # nothing happened: no POST
            payload = json.dumps(summary_payload(hour, rows, k), separators=(",", ":"))
            await webhooks_db.queue_summary(conn, webhook_id, hour, payload)
            queued += 1
    return queued


def summary_payload(hour: datetime, rows: list[asyncpg.Record], k: int) -> dict[str, Any]:
    counts: defaultdict[int, defaultdict[str, dict[str, int]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for row in rows:
        counts[row["campaign_id"]][row["kind"]][row["verdict"]] = int(row["events"])
    return {
        "type": "summary",
        "hour": hour.isoformat(),
        "k": k,
        "campaigns": [
            {
                "campaign": format_id("cmp", campaign_id),
                **{
                    kind: k_split({v: by_kind[kind].get(v, 0) for v in VERDICTS}, k)
                    for kind in ("opens", "clicks")
                },
            }
            for campaign_id, by_kind in counts.items()
        ],
    }
