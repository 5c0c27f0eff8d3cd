"""A later request proves earlier ones a machine's: counters and events are corrected."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from tests.factories import grant, make_campaign, path_of
from tracker import db
from tracker.behaviour import Remark
from tracker.minting import mint
from tracker.recorder import Hit
from tracker.remarks import RecentHits
from tracker.runtime import Runtime

SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"


async def test_a_honeypot_click_turns_the_messages_open_into_a_machine_event(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    await grant(conn, runtime, scenario, "ada@example.org")
    honeypot = await db.ensure_honeypot_link(conn, scenario.campaign.id, "http://t/nothing")
    now = datetime.now(UTC)
    messages = {}
    async with conn.transaction():
        for email in ("ada@example.org", "bob@example.org", "cy@example.org"):
            messages[email] = await mint(
                conn,
                runtime,
                campaign=scenario.campaign,
                email=email,
                honeypot_link=honeypot,
                now=now,
            )
    for urls in messages.values():
        await client.get(path_of(urls.pixel), headers={"user-agent": SAFARI})
    for email in ("ada@example.org", "bob@example.org"):  # a scanner follows every link
        trap = messages[email].honeypot
        assert trap is not None
        assert (await client.get(path_of(trap), headers={"user-agent": SAFARI})).status_code == 302
    await client.get("/healthz")
    await client.get(path_of(messages["cy@example.org"].pixel), headers={"user-agent": SAFARI})

    counts = await conn.fetch(
        "SELECT link_no, verdict, sum(events)::int AS n FROM counters"
        " GROUP BY 1, 2 HAVING sum(events) > 0 ORDER BY 1, 2"
    )
    assert [tuple(row) for row in counts] == [
        (0, "human", 2),  # cy's two opens
        (0, "machine", 2),  # ada's and bob's opens, corrected
        (honeypot, "machine", 2),
    ]
    events = await conn.fetch("SELECT link_no, verdict, reasons FROM events ORDER BY at")
    assert [(row["link_no"], row["verdict"], row["reasons"]) for row in events] == [
        (0, "machine", ["honeypot"]),
        (honeypot, "machine", ["honeypot"]),
    ]


def test_recent_hits_keep_the_latest_of_a_message_up_to_the_bound() -> None:
    recent = RecentHits(per_message=3)
    at = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    hits = [Hit(7, 0, 42, None, True, at + timedelta(seconds=n), "human") for n in range(5)]

    recent.add(hits[:4], at.timestamp() + 4)
    recent.add(hits[4:], at.timestamp() + 5)

    assert len(recent) == 3
    corrections = recent.apply(
        [Remark(7, 42, at.timestamp(), at.timestamp() + 10, "honeypot")], pending=[]
    )
    # Only the three latest hits (seconds 2, 3 and 4) are still there to be corrected.
    hours = at.replace(minute=0)
    assert corrections.counters == Counter(
        {(7, 0, hours, "human"): -3, (7, 0, hours, "machine"): 3}
    )
