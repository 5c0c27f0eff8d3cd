"""SQL of the aggregates package: counters and sketches in, report figures out.

Increments are summed per key before they reach the database, and keys are sorted, so that
two processes upserting the same rows take their locks in the same order.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from tracker.database import Connection

__all__ = [
    "CounterKey",
    "RegisterKey",
    "fetch_consenting_uniques",
    "fetch_counter_totals",
    "fetch_hourly",
    "fetch_sketches",
    "upsert_registers",
]


# Named tuples: the recorder builds and hashes these for every hit, and a tuple's hashing
# and ordering run in C where a dataclass's run in Python.
class CounterKey(NamedTuple):
    campaign_id: int
    link_no: int
    hour: datetime
    verdict: str


class RegisterKey(NamedTuple):
    campaign_id: int
    sketch: str
    register: int


async def upsert_registers(conn: Connection, ranks: Mapping[RegisterKey, int]) -> None:
    keys = sorted(ranks)
    if not keys:
        return
    await conn.execute(
        "INSERT INTO sketches (campaign_id, sketch, register, rank)"
        " SELECT r.campaign_id, r.sketch, r.register, r.rank"
        " FROM unnest($1::bigint[], $2::text[], $3::smallint[], $4::smallint[])"
        "      AS r(campaign_id, sketch, register, rank)"
        " WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = r.campaign_id)"
        " ON CONFLICT (campaign_id, sketch, register)"
        " DO UPDATE SET rank = EXCLUDED.rank WHERE sketches.rank < EXCLUDED.rank",
        [k.campaign_id for k in keys],
        [k.sketch for k in keys],
        [k.register for k in keys],
        [ranks[k] for k in keys],
    )


async def fetch_counter_totals(conn: Connection, campaign_id: int) -> dict[tuple[int, str], int]:
    """(link_no, verdict) -> events, over all hours."""
    rows = await conn.fetch(
        "SELECT link_no, verdict, sum(events)::bigint AS events FROM counters"
        " WHERE campaign_id = $1 GROUP BY link_no, verdict",
        campaign_id,
    )
    return {(row["link_no"], row["verdict"]): row["events"] for row in rows}


async def fetch_sketches(conn: Connection, campaign_id: int) -> dict[str, dict[int, int]]:
    rows = await conn.fetch(
        "SELECT sketch, register, rank FROM sketches WHERE campaign_id = $1", campaign_id
    )
    sketches: dict[str, dict[int, int]] = {}
    for row in rows:
        sketches.setdefault(row["sketch"], {})[row["register"]] = row["rank"]
    return sketches


async def fetch_consenting_uniques(
    conn: Connection, campaign_id: int
) -> dict[tuple[int, str], int]:
    """(link_no, verdict or 'all') -> distinct consenting recipients, exact."""
    rows = await conn.fetch(
        "SELECT link_no, coalesce(verdict, 'all') AS verdict,"
        "       count(DISTINCT recipient_id) AS recipients"
        " FROM events WHERE campaign_id = $1"
        " GROUP BY GROUPING SETS ((link_no, verdict), (link_no))",
        campaign_id,
    )
    return {(row["link_no"], row["verdict"]): row["recipients"] for row in rows}


async def fetch_hourly(conn: Connection, campaign_id: int) -> dict[tuple[datetime, str, str], int]:
    """(hour, 'opens' or 'clicks', verdict) -> events; the honeypot link is not a click."""
    rows = await conn.fetch(
        "SELECT c.hour, CASE WHEN c.link_no = 0 THEN 'opens' ELSE 'clicks' END AS kind,"
        "       c.verdict, sum(c.events)::bigint AS events"
        " FROM counters c LEFT JOIN links l"
        "   ON l.campaign_id = c.campaign_id AND l.link_no = c.link_no"
        " WHERE c.campaign_id = $1 AND NOT coalesce(l.honeypot, false)"
        " GROUP BY 1, 2, 3",
        campaign_id,
    )
    return {(row["hour"], row["kind"], row["verdict"]): row["events"] for row in rows}
