"""The whole path: mint for a consenting and a non-consenting recipient, fetch, report."""

import asyncio
from datetime import UTC, datetime

import asyncpg
import httpx
from starlette.applications import Starlette

from aggregates.report import build_report
from tests.factories import LINKS, grant, make_campaign, mint_for, path_of, withdraw
from tracker.minting import mint
from tracker.runtime import Runtime

SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"


async def test_consenting_recipient_gets_events_and_everyone_gets_counted(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    ada_id = await grant(conn, runtime, scenario, "ada@example.org")
    ada = await mint_for(conn, runtime, scenario, "ada@example.org")
    bob = await mint_for(conn, runtime, scenario, "bob@example.org")
    assert ada.named and not bob.named
    headers = {"user-agent": SAFARI}

    pixel = await client.get(path_of(ada.pixel), headers=headers)
    assert pixel.status_code == 200
    assert pixel.headers["content-type"] == "image/gif"
    assert pixel.headers["cache-control"].startswith("no-store")
    assert pixel.content.startswith(b"GIF89a")
    click = await client.get(path_of(ada.links[LINKS[1]]), headers=headers)
    assert click.status_code == 302
    assert click.headers["location"] == LINKS[1]
    assert click.headers["referrer-policy"] == "no-referrer"
    for _ in range(2):
        assert (await client.get(path_of(bob.pixel), headers=headers)).status_code == 200
    bob_click = await client.get(path_of(bob.links[LINKS[0]]), headers={"user-agent": "curl/8.5"})
    assert bob_click.headers["location"] == LINKS[0]

    events = await conn.fetch("SELECT recipient_id, link_no, verdict FROM events ORDER BY at")
    assert [tuple(row) for row in events] == [(ada_id, 0, "human"), (ada_id, 2, "human")]
    counters = await conn.fetch(
        "SELECT link_no, verdict, sum(events)::int AS n FROM counters"
        " GROUP BY link_no, verdict ORDER BY link_no, verdict"
    )
    assert [tuple(row) for row in counters] == [
        (0, "human", 3),
        (1, "machine", 1),
        (2, "human", 1),
    ]

    links = [(1, LINKS[0]), (2, LINKS[1])]
    report = await build_report(
        conn, campaign_id=scenario.campaign.id, campaign_label="c", links=links, k=2
    )
    assert report["audience"] == 2
    assert report["opens"]["total"] == {"human": 3, "proxy": None, "machine": None, "all": 3}
    assert report["opens"]["unique_estimate"]["human"] == 2
    assert report["opens"]["unique_consenting"]["all"] == 1
    offer, pricing = report["links"]
    assert offer["clicks"]["total"]["all"] is None  # one click is below k = 2
    assert offer["clicks"]["unique_consenting"]["all"] == 0
    assert pricing["clicks"]["unique_consenting"] == {
        "human": 1,
        "proxy": 0,
        "machine": 0,
        "all": 1,
    }


async def test_default_report_hides_small_figures_but_not_consenting_uniques(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    await grant(conn, runtime, scenario, "ada@example.org")
    ada = await mint_for(conn, runtime, scenario, "ada@example.org")
    await client.get(path_of(ada.pixel), headers={"user-agent": SAFARI})
    report = await build_report(
        conn, campaign_id=scenario.campaign.id, campaign_label="c", links=[], k=5
    )
    assert report["opens"]["total"]["all"] is None
    assert report["opens"]["unique_consenting"]["all"] == 1
    assert report["breakdown_suppressed"] is True


async def test_withdrawal_after_minting_stops_per_recipient_events(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    await grant(conn, runtime, scenario, "ada@example.org")
    ada = await mint_for(conn, runtime, scenario, "ada@example.org")
    await client.get(path_of(ada.pixel), headers={"user-agent": SAFARI})
    await withdraw(conn, runtime, scenario, "ada@example.org")
    # At once, before any notification could reach the cache: the commit checks consent.
    await client.get(path_of(ada.pixel), headers={"user-agent": SAFARI})
    await client.get(path_of(ada.links[LINKS[0]]), headers={"user-agent": SAFARI})

    assert await conn.fetchval("SELECT count(*) FROM events") == 1
    assert await conn.fetchval("SELECT sum(events) FROM counters") == 3


async def test_consent_change_reaches_the_process_cache_within_a_second(
    conn: asyncpg.Connection, runtime: Runtime, app: Starlette, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    ada_id = await grant(conn, runtime, scenario, "ada@example.org")
    ada = await mint_for(conn, runtime, scenario, "ada@example.org")
    await client.get(path_of(ada.pixel), headers={"user-agent": SAFARI})
    cache = app.state.tracking.cache
    assert cache.get(ada_id) is not None  # filled by the recorder's commit

    await withdraw(conn, runtime, scenario, "ada@example.org")
    for _ in range(20):
        if cache.get(ada_id) is None:
            break
        await asyncio.sleep(0.05)
    assert cache.get(ada_id) is None


async def test_link_registered_after_start_redirects(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn, links=[])
    await client.get("/healthz")
    async with conn.transaction():
        minted = await mint(
            conn,
            runtime,
            campaign=scenario.campaign,
            email="carl@example.org",
            link_urls=["https://example.net/late"],
            now=datetime.now(UTC),
        )
    response = await client.get(path_of(minted.links["https://example.net/late"]))
    assert response.status_code == 302
    assert response.headers["location"] == "https://example.net/late"
