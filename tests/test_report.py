"""The campaign report: what is shown, what is suppressed below k, and how it reads."""

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from aggregates.db import RegisterKey, upsert_registers
from aggregates.hll import SketchHasher
from aggregates.report import AUDIENCE_SKETCH, build_report, render_text, sketch_name
from tests.factories import LINKS, Scenario, make_campaign
from tracker.ids import new_id

HASHER = SketchHasher(b"report-test-key-0123456789abcdefghijklmn")
HOUR = datetime(2024, 11, 5, 10, tzinfo=UTC)
K = 5


async def add_counter(
    conn: asyncpg.Connection,
    scenario: Scenario,
    link_no: int,
    verdict: str,
    events: int,
    hour: datetime = HOUR,
) -> None:
    await conn.execute(
        "INSERT INTO counters (campaign_id, link_no, hour, verdict, events)"
        " VALUES ($1, $2, $3, $4, $5)",
        scenario.campaign.id,
        link_no,
        hour,
        verdict,
        events,
    )


def distinct(scenario: Scenario, count: int) -> list[int]:
    """The first ``count`` ids that fall into distinct registers of this campaign's sketches.

    Campaign ids are random, so plain ranges would now and then share a register and the
    estimate would be off by one; the report's rules are the subject here, not HLL accuracy.
    """
    ids: list[int] = []
    taken: set[int] = set()
    subject = 0
    while len(ids) < count:
        register, _ = HASHER.position(scenario.campaign.id, subject)
        if register not in taken:
            taken.add(register)
            ids.append(subject)
        subject += 1
    return ids


async def add_sketch(
    conn: asyncpg.Connection, scenario: Scenario, sketch: str, ids: Iterable[int]
) -> None:
    ranks: dict[RegisterKey, int] = {}
    for subject in ids:
        register, rank = HASHER.position(scenario.campaign.id, subject)
        key = RegisterKey(scenario.campaign.id, sketch, register)
        ranks[key] = max(rank, ranks.get(key, 0))
    await upsert_registers(conn, ranks)


async def add_consenting_event(
    conn: asyncpg.Connection, scenario: Scenario, recipient_id: int, link_no: int, verdict: str
) -> None:
    await conn.execute(
        "INSERT INTO recipients (id, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        recipient_id,
        scenario.account_id,
    )
    await conn.execute(
        "INSERT INTO events (id, campaign_id, recipient_id, link_no, at, verdict)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        uuid.uuid4(),
        scenario.campaign.id,
        recipient_id,
        link_no,
        HOUR + timedelta(minutes=5),
        verdict,
    )


async def report_of(conn: asyncpg.Connection, scenario: Scenario) -> dict[str, Any]:
    return await build_report(
        conn,
        campaign_id=scenario.campaign.id,
        campaign_label="x",
        links=[(1, LINKS[0]), (2, LINKS[1])],
        k=K,
    )


async def populated(conn: asyncpg.Connection, *, audience: int) -> Scenario:
    """Opens: human 3+2 (two hours), proxy 4; link 1: 2/1/1 clicks; link 2: 6 machine."""
    scenario = await make_campaign(conn)
    await add_sketch(conn, scenario, AUDIENCE_SKETCH, distinct(scenario, audience))
    await add_counter(conn, scenario, 0, "human", 3)
    await add_counter(conn, scenario, 0, "human", 2, HOUR + timedelta(hours=1))
    await add_counter(conn, scenario, 0, "proxy", 4)
    await add_counter(conn, scenario, 1, "human", 2)
    await add_counter(conn, scenario, 1, "proxy", 1)
    await add_counter(conn, scenario, 1, "machine", 1)
    await add_counter(conn, scenario, 2, "machine", 6)
    openers = distinct(scenario, 8)  # 5 humans and 3 proxies, all different
    await add_sketch(conn, scenario, sketch_name(0, "human"), openers[:5])
    await add_sketch(conn, scenario, sketch_name(0, "proxy"), openers[5:])
    await add_sketch(conn, scenario, sketch_name(1, "human"), distinct(scenario, 2))
    await add_sketch(conn, scenario, sketch_name(2, "machine"), distinct(scenario, 6))
    first, second = new_id(), new_id()
    await add_consenting_event(conn, scenario, first, 0, "human")
    await add_consenting_event(conn, scenario, first, 0, "human")
    await add_consenting_event(conn, scenario, second, 0, "proxy")
    await add_consenting_event(conn, scenario, first, 1, "machine")
    return scenario


async def test_figures_below_k_are_suppressed_and_the_rest_are_shown(
    conn: asyncpg.Connection,
) -> None:
    report = await report_of(conn, await populated(conn, audience=50))

    assert report["campaign"] == "x"
    assert report["k"] == K
    assert report["breakdown_suppressed"] is False
    assert report["audience"] == 50
    opens = report["opens"]
    # 9 in all would say that the two withheld figures add up to 4: "all" is withheld too.
    assert opens["total"] == {"human": 5, "proxy": None, "machine": None, "all": None}
    assert opens["unique_estimate"] == {"human": 5, "proxy": None, "machine": None, "all": None}
    link_one, link_two = report["links"]
    assert (link_one["link"], link_one["url"]) == (1, LINKS[0])
    assert link_one["clicks"]["total"] == {
        "human": None,
        "proxy": None,
        "machine": None,
        "all": None,
    }
    assert (link_two["link"], link_two["url"]) == (2, LINKS[1])
    assert link_two["clicks"]["total"] == {"human": None, "proxy": None, "machine": 6, "all": 6}
    assert link_two["clicks"]["unique_estimate"]["machine"] == 6


async def test_all_is_the_sum_and_is_withheld_when_below_k_or_when_it_gives_a_figure_away(
    conn: asyncpg.Connection,
) -> None:
    scenario = await make_campaign(conn)
    await add_sketch(conn, scenario, AUDIENCE_SKETCH, distinct(scenario, 50))
    for verdict in ("human", "proxy", "machine"):
        await add_counter(conn, scenario, 0, verdict, 2)
    await add_counter(conn, scenario, 1, "human", 1)
    await add_counter(conn, scenario, 1, "proxy", 3)

    report = await report_of(conn, scenario)

    assert report["opens"]["total"] == {"human": None, "proxy": None, "machine": None, "all": 6}
    assert report["links"][0]["clicks"]["total"]["all"] is None
    assert report["links"][1]["clicks"]["total"] == {
        "human": None,
        "proxy": None,
        "machine": None,
        "all": None,
    }


async def test_all_is_withheld_when_it_would_reveal_a_withheld_figure(
    conn: asyncpg.Connection,
) -> None:
    scenario = await make_campaign(conn)
    await add_sketch(conn, scenario, AUDIENCE_SKETCH, distinct(scenario, 50))
    await add_counter(conn, scenario, 0, "human", 3)
    await add_counter(conn, scenario, 0, "proxy", 20)
    await add_counter(conn, scenario, 1, "proxy", 20)

    report = await report_of(conn, scenario)

    # 23 in all beside proxy 20 would say "3 human opens".
    assert report["opens"]["total"] == {"human": None, "proxy": 20, "machine": None, "all": None}
    # Withheld figures that are all zero give nothing away.
    assert report["links"][0]["clicks"]["total"] == {
        "human": None,
        "proxy": 20,
        "machine": None,
        "all": 20,
    }


async def test_exact_consenting_uniques_are_never_suppressed(conn: asyncpg.Connection) -> None:
    for audience in (50, 2):
        report = await report_of(conn, await populated(conn, audience=audience))

        assert report["opens"]["unique_consenting"] == {
            "human": 1,
            "proxy": 1,
            "machine": 0,
            "all": 2,
        }
        assert report["links"][0]["clicks"]["unique_consenting"] == {
            "human": 0,
            "proxy": 0,
            "machine": 1,
            "all": 1,
        }
        assert report["links"][1]["clicks"]["unique_consenting"] == {
            "human": 0,
            "proxy": 0,
            "machine": 0,
            "all": 0,
        }


async def test_an_audience_below_k_withholds_every_per_link_figure(
    conn: asyncpg.Connection,
) -> None:
    scenario = await populated(conn, audience=K - 1)
    await add_counter(conn, scenario, 1, "human", 40, HOUR + timedelta(hours=2))

    report = await report_of(conn, scenario)

    assert report["audience"] == K - 1
    assert report["breakdown_suppressed"] is True
    for link in report["links"]:
        for figure in ("total", "unique_estimate"):
            assert link["clicks"][figure] == {
                "human": None,
                "proxy": None,
                "machine": None,
                "all": None,
            }, (link["url"], figure)
    assert report["opens"]["total"]["human"] == 5  # opens are not withheld for a small audience


async def test_a_campaign_without_any_data_reports_zero_audience_and_suppresses_links(
    conn: asyncpg.Connection,
) -> None:
    report = await report_of(conn, await make_campaign(conn))

    assert report["audience"] == 0
    assert report["breakdown_suppressed"] is True
    assert report["opens"]["unique_consenting"]["all"] == 0
    assert report["opens"]["total"]["all"] is None


async def test_the_text_report_shows_suppressed_cells_as_below_k(
    conn: asyncpg.Connection,
) -> None:
    report = await report_of(conn, await populated(conn, audience=50))

    text = render_text(report)
    lines = text.splitlines()
    opens = lines.index("Opens")

    assert lines[opens + 1].split() == ["events", "5", "<", "5", "<", "5", "<", "5"]
    assert lines[opens + 3].split() == ["unique", "(exact,", "consenting)", "1", "1", "0", "2"]
    assert f"Clicks on {LINKS[0]}" in lines
    assert "Per-link figures are withheld" not in text
    assert "None" not in text


async def test_the_text_report_says_per_link_figures_are_withheld_for_a_small_audience(
    conn: asyncpg.Connection,
) -> None:
    report = await report_of(conn, await populated(conn, audience=2))

    text = render_text(report)

    assert "Per-link figures are withheld: the audience is below 5." in text
    click_rows = text.split(f"Clicks on {LINKS[0]}")[1].splitlines()[1:3]
    for row in click_rows:
        assert row.split()[-8:] == ["<", "5"] * 4, row


async def human_opens_by_hour(conn: asyncpg.Connection, opens: list[int]) -> Scenario:
    """A campaign of 50 with these human opens in consecutive hours from HOUR."""
    scenario = await make_campaign(conn)
    await add_sketch(conn, scenario, AUDIENCE_SKETCH, distinct(scenario, 50))
    for n, events in enumerate(opens):
        await add_counter(conn, scenario, 0, "human", events, HOUR + timedelta(hours=n))
    return scenario


async def test_hours_are_withheld_too_when_the_total_would_give_a_withheld_hour_away(
    conn: asyncpg.Connection,
) -> None:
    report = await report_of(conn, await human_opens_by_hour(conn, [3, 20, 30]))

    assert report["opens"]["total"]["human"] == 53
    opens = [hour["opens"] for hour in report["hourly"]]
    # 53 in all, less 20 and 30 shown, would say "3 at 10:00": 11:00 is withheld as well,
    # its "all" with it; what is shown now leaves 23 for two hours, no figure of its own.
    assert [hour["human"] for hour in opens] == [None, None, 30]
    assert [hour["all"] for hour in opens] == [None, None, 30]
    shown = sum(hour["human"] or 0 for hour in opens)
    assert report["opens"]["total"]["human"] - shown >= K


async def test_hours_that_withhold_only_zeros_or_k_and_more_stay_as_they_are(
    conn: asyncpg.Connection,
) -> None:
    report = await report_of(conn, await human_opens_by_hour(conn, [3, 2, 20]))

    # 3 and 2 withheld add up to 5 (= k): the total 25 tells only that.
    assert [hour["opens"]["human"] for hour in report["hourly"]] == [None, None, 20]
    assert [hour["clicks"]["all"] for hour in report["hourly"]] == [None, None, None]
