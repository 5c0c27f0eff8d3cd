"""What an operator watches: /metrics, and log lines that are JSON and hold no secrets."""

import json
import logging

import asyncpg
import httpx

from tests.factories import make_campaign, mint_for, path_of, person
from tracker.classify import HEADERS_READ
from tracker.logs import JsonFormatter
from tracker.runtime import Runtime


async def test_metrics_count_requests_verdicts_bad_tokens_and_groups(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    for n in range(3):
        urls = await mint_for(conn, runtime, scenario, f"m{n}@example.org")
        await client.get(path_of(urls.pixel), headers=person(n))
    await client.head(path_of(urls.pixel))
    await client.get("/o/forged.gif")
    text = (await client.get("/metrics")).text
    assert 'tracker_requests_total{kind="open"} 4.0' in text
    assert 'tracker_verdicts_total{verdict="human"} 3.0' in text
    assert 'tracker_verdicts_total{verdict="machine"} 1.0' in text
    assert "tracker_bad_tokens_total 1.0" in text
    assert "tracker_group_size_count" in text and "tracker_commit_seconds_bucket" in text
    assert "tracker_spool_depth 0.0" in text and "tracker_degraded 0.0" in text
    assert "tracker_consent_cache_entries" in text and "tracker_link_cache_entries" in text
    assert "process_resident_memory_bytes" in text and "python_gc_collections_total" in text


def test_log_lines_are_json_objects() -> None:
    record = logging.LogRecord(
        "tracker.recorder",
        logging.WARNING,
        __file__,
        1,
        "group commit failed (%s); retrying",
        ("OSError",),
        None,
    )
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "warning" and line["logger"] == "tracker.recorder"
    assert line["message"] == "group commit failed (OSError); retrying"
    assert line["time"].endswith("+00:00")


async def test_repeated_x_forwarded_for_lines_are_read_as_one_list(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    # The client wrote the first line; our proxy (203.0.113.0/24, trusted in the tests)
    # added the second, with the address it saw: an iCloud Private Relay one. Read as a
    # whole list, the open is Apple's prefetch; the first line alone would make it human.
    scenario = await make_campaign(conn)
    urls = await mint_for(conn, runtime, scenario, "relay@example.org")
    headers = [
        ("user-agent", "Mozilla/5.0"),
        ("x-forwarded-for", "198.51.100.7"),
        ("x-forwarded-for", "104.28.28.1"),
    ]

    await client.get(path_of(urls.pixel), headers=headers)

    text = (await client.get("/metrics")).text
    assert 'tracker_verdicts_total{verdict="proxy"} 1.0' in text
    assert 'tracker_verdicts_total{verdict="human"} 0.0' in text


async def test_every_header_the_classifier_reads_reaches_it_from_a_pixel_request(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    # The pixel path decodes only the headers it passes on; a prefetch header it dropped
    # would turn a browser's prefetch into a human open.
    scenario = await make_campaign(conn)
    headers = [header for header in HEADERS_READ if header != "user-agent"]
    for n, header in enumerate(headers):
        urls = await mint_for(conn, runtime, scenario, f"prefetch{n}@example.org")
        await client.get(path_of(urls.pixel), headers={**person(n), header: "prefetch"})

    text = (await client.get("/metrics")).text
    assert f'tracker_verdicts_total{{verdict="machine"}} {float(len(headers))}' in text
    assert 'tracker_verdicts_total{verdict="human"} 0.0' in text
