"""The report web page: reached by a short-lived signed link, readable without scripts."""

import asyncio
import shutil
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.factories import make_campaign, mint_for, path_of, person
from tests.servers import running_server
from tracker.reportpage import report_link
from tracker.runtime import Runtime

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


async def _traffic(conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient) -> int:
    scenario = await make_campaign(conn)
    for n in range(12):
        urls = await mint_for(conn, runtime, scenario, f"r{n}@example.org")
        await client.get(path_of(urls.pixel), headers=person(n))
        if n < 7:
            await client.get(path_of(next(iter(urls.links.values()))), headers=person(n))
        if n < 6:
            await client.head(path_of(urls.pixel))
    return scenario.campaign.id


async def test_the_report_page_shows_figures_chart_and_table_without_scripts(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    campaign_id = await _traffic(conn, runtime, client)
    url, _ = report_link(runtime, campaign_id)
    page = await client.get(path_of(url))
    assert page.status_code == 200
    assert "<script" not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in page.text
    assert "<title>human: 12</title>" in page.text  # twelve opens this hour
    assert "<td>12</td>" in page.text and "<td>6</td>" in page.text
    forged = await client.get(path_of(url)[:-3] + "abc")
    assert forged.status_code == 404


@pytest.mark.slow
def test_the_report_page_in_a_real_browser(
    dsn: str, runtime: Runtime, test_env: dict[str, str], tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import expect, sync_playwright

    env = {**test_env, "TRACKER_TRUSTED_PROXIES": "127.0.0.1/32"}  # people come via XFF
    with running_server(env, tmp_path / "server.log") as base:

        async def prepare() -> str:
            conn = await asyncpg.connect(dsn)
            try:
                async with httpx.AsyncClient(base_url=base) as http:
                    campaign_id = await _traffic(conn, runtime, http)
            finally:
                await conn.close()
            return path_of(report_link(runtime, campaign_id)[0])

        path = asyncio.run(prepare())
        ARTIFACTS.mkdir(exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            try:
                page = browser.new_page(viewport={"width": 1100, "height": 900})
                page.goto(base + path)
                expect(page.get_by_role("heading", level=1)).to_have_text("November")
                expect(page.get_by_role("img", name="Opens per hour")).to_be_visible()
                opens = page.get_by_role("table").first
                expect(opens).to_contain_text("unique, exact")
                events = opens.get_by_role("row", name="events").get_by_role("cell")
                expect(events).to_have_text(["12", "< 5", "6", "18"])
                page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            finally:
                browser.close()
