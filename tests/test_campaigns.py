"""Campaigns and link targets: only plain http(s) URLs, numbered once and for all."""

import asyncpg
import pytest

from tests.factories import make_campaign
from tracker import accounts, campaigns, db
from tracker.errors import InvalidInput, NotFound
from tracker.ids import new_id


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org",
        "https://example.org/",
        "https://example.org/offer?id=1&utm_source=mail#plans",
        "https://shop.example.org:8443/cart",
        "http://192.0.2.10/",
        "http://[2001:db8::1]:8080/",
        "https://example.org/" + "a" * (campaigns.MAX_TARGET_LENGTH - 20),
    ],
)
def test_plain_http_and_https_targets_are_accepted_unchanged(url: str) -> None:
    assert campaigns.validate_target(url) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/file.zip", "must start with http:// or https://"),
        ("javascript:alert(document.cookie)", "must start with http:// or https://"),
        ("mailto:ada@example.org", "must start with http:// or https://"),
        ("data:text/html,<script>alert(1)</script>", "must start with http:// or https://"),
        ("//example.org/path", "must start with http:// or https://"),
        ("example.org/path", "must start with http:// or https://"),
        ("https://", "has no host"),
        ("http:///path-only", "has no host"),
        ("https://user:pass@example.org/", "must not carry a user name or password"),
        ("https://user@example.org/", "must not carry a user name or password"),
        ("https://example.org/a b", "contains spaces or control characters"),
        (" https://example.org/", "contains spaces or control characters"),
        ("https://example.org/\t", "contains spaces or control characters"),
        ("https://example.org/\r\nSet-Cookie: x=1", "contains spaces or control characters"),
        ("https://example.org/\x00", "contains spaces or control characters"),
        ("https://example.org/\x7f", "contains spaces or control characters"),
        ("https://example.org/" + "a" * 2029, "longer than 2048"),
        ("https://example.org:99999/", "is not a valid URL"),
        ("https://example.org:http/", "is not a valid URL"),
        ("https://example.org:-1/", "is not a valid URL"),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else None,
)
def test_unsafe_or_malformed_targets_are_refused(url: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        campaigns.validate_target(url)


async def test_create_campaign_numbers_its_links_in_order(conn: asyncpg.Connection) -> None:
    urls = ["https://example.org/a", "https://example.org/b", "https://example.org/c"]

    scenario = await make_campaign(conn, urls)
    links = await db.fetch_links(conn, scenario.campaign.id)

    assert [(link.link_no, link.url) for link in links] == [
        (1, urls[0]),
        (2, urls[1]),
        (3, urls[2]),
    ]


async def test_register_links_numbers_new_links_1_2_3_in_order(conn: asyncpg.Connection) -> None:
    scenario = await make_campaign(conn, [])
    urls = ["https://example.org/c", "https://example.org/a", "https://example.org/b"]

    numbers = await campaigns.register_links(conn, scenario.campaign.id, urls)

    assert numbers == {urls[0]: 1, urls[1]: 2, urls[2]: 3}


async def test_register_links_is_idempotent(conn: asyncpg.Connection) -> None:
    scenario = await make_campaign(conn, [])
    urls = ["https://example.org/a", "https://example.org/b"]

    first = await campaigns.register_links(conn, scenario.campaign.id, urls)
    second = await campaigns.register_links(conn, scenario.campaign.id, urls)

    assert first == second == {urls[0]: 1, urls[1]: 2}
    assert len(await db.fetch_links(conn, scenario.campaign.id)) == 2


async def test_re_registering_a_url_keeps_its_number_and_new_ones_continue(
    conn: asyncpg.Connection,
) -> None:
    a, b, c, d = (f"https://example.org/{name}" for name in "abcd")
    scenario = await make_campaign(conn, [a, b])

    numbers = await campaigns.register_links(conn, scenario.campaign.id, [c, b, d, c])

    assert numbers == {c: 3, b: 2, d: 4}
    links = await db.fetch_links(conn, scenario.campaign.id)
    assert [(link.link_no, link.url) for link in links] == [(1, a), (2, b), (3, c), (4, d)]


async def test_links_are_numbered_per_campaign(conn: asyncpg.Connection) -> None:
    url = "https://example.org/shared"
    first = await make_campaign(conn, ["https://example.org/only-here", url])
    second = await make_campaign(conn, [])

    assert await campaigns.register_links(conn, second.campaign.id, [url]) == {url: 1}
    assert await campaigns.register_links(conn, first.campaign.id, [url]) == {url: 2}


async def test_a_bad_target_registers_nothing_of_its_batch(conn: asyncpg.Connection) -> None:
    scenario = await make_campaign(conn, [])

    with pytest.raises(InvalidInput):
        await campaigns.register_links(
            conn, scenario.campaign.id, ["https://example.org/fine", "javascript:alert(1)"]
        )

    assert await db.fetch_links(conn, scenario.campaign.id) == []


async def test_a_campaign_with_a_bad_target_is_not_created(conn: asyncpg.Connection) -> None:
    created = await accounts.create_account(conn, "Example GmbH")

    with pytest.raises(InvalidInput):
        await campaigns.create_campaign(
            conn, created.account.id, "November", ["https://example.org/", "ftp://example.org/"]
        )

    assert await conn.fetchval("SELECT count(*) FROM campaigns") == 0


async def test_a_campaign_for_an_unknown_account_is_not_found(conn: asyncpg.Connection) -> None:
    with pytest.raises(NotFound, match="there is no account acc_"):
        await campaigns.create_campaign(conn, new_id(), "November", ["https://example.org/"])

    with pytest.raises(NotFound, match="there is no campaign cmp_"):
        await campaigns.get_campaign(conn, new_id())
