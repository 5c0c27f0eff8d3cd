"""Forged, truncated, altered and foreign-key tokens: a GIF or a 404, and nothing counted."""

import asyncpg
import httpx
from starlette.applications import Starlette

from tests.factories import LINKS, make_campaign, mint_for, path_of
from tracker.runtime import Runtime
from tracker.tokens import Kind, UrlSigner, UrlToken


def _variants(good: str, foreign: str) -> list[str]:
    payload, signature = good.split(".")
    flipped = "A" if payload[5] != "A" else "B"
    return [
        "garbage",
        good[:-1],
        good[: len(good) // 2],
        payload,
        payload[:5] + flipped + payload[6:] + "." + signature,
        payload + "." + signature[::-1],
        foreign,
        good + "." + signature,
        "x" * 5000,
        "%FF%FE%00",
        "..",
        good.upper(),
    ]


async def test_bad_tokens_get_the_image_or_a_404_and_are_never_counted(
    conn: asyncpg.Connection, runtime: Runtime, app: Starlette, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    minted = await mint_for(conn, runtime, scenario, "bob@example.org")
    pixel_token = path_of(minted.pixel).removeprefix("/o/").removesuffix(".gif")
    link_token = path_of(minted.links[LINKS[0]]).removeprefix("/c/")
    stranger = UrlSigner((b"another-servers-key-0123456789abcdefghij",))
    token = runtime.signer.verify(link_token)
    foreign = stranger.sign(
        UrlToken(Kind.CLICK, token.campaign_id, 1, token.minted_at, token.subject, False)
    )

    for bad in _variants(pixel_token, foreign):
        response = await client.get(f"/o/{bad}.gif")
        assert response.status_code == 200, bad
        assert response.content.startswith(b"GIF89a")
    for bad in [*_variants(link_token, foreign), pixel_token]:  # an open token is no link
        response = await client.get(f"/c/{bad}")
        assert response.status_code == 404, bad
        assert "location" not in response.headers
        assert "does not work" in response.text

    assert await conn.fetchval("SELECT count(*) FROM counters") == 0
    assert await conn.fetchval("SELECT count(*) FROM events") == 0
    assert app.state.tracking.bad_tokens >= 20


async def test_a_genuine_token_for_an_unknown_link_is_a_404(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    minted = await mint_for(conn, runtime, scenario, "bob@example.org")
    real = runtime.signer.verify(path_of(minted.links[LINKS[0]]).removeprefix("/c/"))
    unknown = runtime.signer.sign(
        UrlToken(Kind.CLICK, real.campaign_id, 999, real.minted_at, real.subject, False)
    )
    response = await client.get(f"/c/{unknown}")
    assert response.status_code == 404
    assert await conn.fetchval("SELECT count(*) FROM counters") == 0


async def test_head_on_the_pixel_is_recorded_as_a_machine(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    minted = await mint_for(conn, runtime, scenario, "bob@example.org")
    response = await client.head(path_of(minted.pixel), headers={"user-agent": "Mozilla/5.0"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["cache-control"].startswith("no-store")
    rows = await conn.fetch("SELECT verdict, events FROM counters")
    assert [tuple(row) for row in rows] == [("machine", 1)]
