"""The consent page in headless Chromium: read, grant, see it confirmed, withdraw; both
languages. Screenshots are kept in test-artifacts/ for a person to look at."""

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest

from tests.factories import make_campaign, mint_for
from tests.servers import running_server
from tracker.runtime import Runtime

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _consent_path(dsn: str, runtime: Runtime) -> str:
    async def setup() -> str:
        conn = await asyncpg.connect(dsn)
        try:
            scenario = await make_campaign(conn)
            urls = await mint_for(conn, runtime, scenario, "ada@example.org")
        finally:
            await conn.close()
        return urls.consent.removeprefix(runtime.settings.base_url)

    return asyncio.run(setup())


def test_a_person_grants_and_withdraws_in_a_real_browser(
    dsn: str, runtime: Runtime, test_env: dict[str, str], tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import expect, sync_playwright

    path = _consent_path(dsn, runtime)
    ARTIFACTS.mkdir(exist_ok=True)
    env = {**test_env, "TRACKER_CONSENT_MIN_SECONDS": "0.5"}
    with running_server(env, tmp_path / "server.log") as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            # Headless Chromium says "HeadlessChrome", which the classifier rightly takes for
            # a machine (scanners that submit forms use it): present a person's browser.
            page = browser.new_page(
                locale="de-DE",
                viewport={"width": 390, "height": 844},
                user_agent="Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
                "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
            )
            page.goto(base + path)
            expect(page.locator("html")).to_have_attribute("lang", "de")
            expect(page.get_by_role("heading", level=1)).to_contain_text("Einwilligung")
            page.screenshot(path=str(ARTIFACTS / "consent-de.png"), full_page=True)

            page.get_by_role("link", name="Language: English").click()
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(page.get_by_text("Your IP address, your device")).to_be_visible()
            page.wait_for_timeout(600)  # a person reads before pressing
            page.get_by_role("button", name="Yes, I agree to this recording").click()
            expect(page.get_by_role("status")).to_have_text("Thank you. Your consent is recorded.")
            expect(page.locator("#state")).to_contain_text("You have agreed")
            page.screenshot(path=str(ARTIFACTS / "consent-granted-en.png"), full_page=True)

            page.keyboard.press("Tab")  # the form works from the keyboard too
            page.get_by_role("button", name="Withdraw my consent").focus()
            page.keyboard.press("Enter")
            expect(page.get_by_role("status")).to_have_text(
                "Your consent is withdrawn. Recording has stopped."
            )
            expect(
                page.get_by_role("button", name="Yes, I agree to this recording")
            ).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "consent-withdrawn-en.png"), full_page=True)
        finally:
            browser.close()

    async def actions() -> list[str]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT action FROM consent_ledger ORDER BY id")
        finally:
            await conn.close()
        return [row["action"] for row in rows]

    assert asyncio.run(actions()) == ["granted", "withdrawn"]
