"""The pixel and link paths bypass Starlette's routing: the rest of its behaviour must stay."""

import logging

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from tests.factories import make_campaign, mint_for, path_of
from tracker.runtime import Runtime


async def test_other_methods_and_malformed_paths_still_get_starlettes_answers(
    client: httpx.AsyncClient, conn: asyncpg.Connection, runtime: Runtime
) -> None:
    scenario = await make_campaign(conn)
    urls = await mint_for(conn, runtime, scenario, "hot@example.org")
    pixel, link = path_of(urls.pixel), path_of(next(iter(urls.links.values())))
    assert (await client.post(pixel)).status_code == 405
    assert (await client.delete(link)).status_code == 405
    assert (await client.get("/o/")).status_code == 404
    assert (await client.get(pixel + "/more")).status_code == 404
    head = await client.head(pixel)
    assert head.status_code == 200 and head.headers["content-type"] == "image/gif"
    assert (await client.get(link)).status_code == 302


async def test_a_pixel_that_can_no_longer_be_recorded_gets_a_500_not_a_gif(
    app: Starlette,
    client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scenario = await make_campaign(conn)
    urls = await mint_for(conn, runtime, scenario, "late@example.org")
    await app.state.tracking.recorder.close()  # as at the end of a shutdown
    with caplog.at_level(logging.ERROR, logger="tracker.app"):
        response = await client.get(path_of(urls.pixel))
    assert response.status_code == 500 and not response.content.startswith(b"GIF")
    assert "unhandled RecorderClosed on /o/" in caplog.text
    assert urls.pixel.rsplit("/", 1)[1] not in caplog.text  # no token in the log


async def test_a_trailing_slash_is_not_redirected(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/campaigns/")
    assert response.status_code == 404 and "location" not in response.headers
