"""The consent page: what it shows, and that only a person's POST grants."""

from pathlib import Path

import asyncpg
import httpx
from starlette.applications import Starlette

from tests.consent_forms import BROWSER, form_fields
from tests.factories import grant, make_campaign, mint_for, path_of
from tracker.runtime import Runtime


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def _page(conn: asyncpg.Connection, runtime: Runtime, email: str) -> str:
    scenario = await make_campaign(conn)
    return path_of((await mint_for(conn, runtime, scenario, email)).consent)


async def _ledger(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await conn.fetch("SELECT action, method FROM consent_ledger ORDER BY id")
    return [(row["action"], row["method"]) for row in rows]


async def test_page_explains_in_english_or_german_and_gets_and_heads_change_nothing(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    path = await _page(conn, runtime, "bob@example.org")
    english = await client.get(path)
    assert english.status_code == 200
    assert english.headers["content-security-policy"].startswith("default-src 'none'")
    assert english.headers["x-frame-options"] == "DENY"
    assert '<html lang="en">' in english.text
    assert "Example Newsletter GmbH" in english.text
    assert "Your IP address, your device" in english.text
    assert "Yes, I agree to this recording" in english.text
    assert "Text version 1, SHA-256" in english.text
    german = await client.get(path, headers={"accept-language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in german.text
    assert "Ja, ich stimme dieser Erfassung zu" in german.text
    switched = await client.get(path + "?lang=en", headers={"accept-language": "de"})
    assert '<html lang="en">' in switched.text
    assert 'hreflang="de"' in switched.text
    for _ in range(5):
        await client.get(path, headers={"user-agent": "Mozilla/5.0 (compatible; scanner)"})
        await client.head(path)
    assert await _ledger(conn) == []
    stylesheet = await client.get("/consent-assets/page.css")
    assert stylesheet.headers["content-type"].startswith("text/css")


async def test_grant_after_reading_is_recorded_with_text_and_proof(
    conn: asyncpg.Connection, runtime: Runtime, app: Starlette, client: httpx.AsyncClient
) -> None:
    clock = Clock()
    app.state.consent_page.clock = clock
    path = await _page(conn, runtime, "bob@example.org")
    page = await client.get(path, headers={"user-agent": BROWSER})
    clock.now += 5
    done = await client.post(path, data=form_fields(page), headers={"user-agent": BROWSER})
    assert done.status_code == 303
    confirmation = await client.get(done.headers["location"])
    assert "Thank you. Your consent is recorded." in confirmation.text
    assert "Withdraw my consent" in confirmation.text

    row = await conn.fetchrow("SELECT * FROM consent_ledger")

    assert row is not None
    assert (row["action"], row["method"], row["text_version"], row["lang"]) == (
        "granted",
        "page",
        1,
        "en",
    )
    shown = await conn.fetchval(
        "SELECT body FROM consent_texts_shown WHERE sha256 = $1", row["text_sha256"]
    )
    assert "Your IP address, your device" in shown
    assert '"seconds_on_page": 5.0' in row["evidence"]
    assert "203.0.113.7" not in row["evidence"] and BROWSER not in row["evidence"]


async def test_machines_fast_posts_and_posts_without_form_token_never_grant(
    conn: asyncpg.Connection, runtime: Runtime, app: Starlette, client: httpx.AsyncClient
) -> None:
    clock = Clock()
    app.state.consent_page.clock = clock
    path = await _page(conn, runtime, "bob@example.org")
    page = await client.get(path, headers={"user-agent": BROWSER})
    fields = form_fields(page)

    no_token = await client.post(path, data={"action": "grant"}, headers={"user-agent": BROWSER})
    assert no_token.status_code == 403
    forged = {**fields, "csrf": fields["csrf"][:-2] + "xx"}
    assert (
        await client.post(path, data=forged, headers={"user-agent": BROWSER})
    ).status_code == 403
    clock.now += 0.5
    too_fast = await client.post(path, data=fields, headers={"user-agent": BROWSER})
    assert "press it again" in too_fast.text
    clock.now += 10
    library = await client.post(path, data=fields, headers={"user-agent": "python-requests/2.32"})
    assert "press it again" in library.text
    empty_agent = await client.post(path, data=fields, headers={"user-agent": ""})
    assert "press it again" in empty_agent.text

    assert await _ledger(conn) == [("refused", "page")] * 3
    assert await conn.fetchval("SELECT count(*) FROM consent_state") == 0


async def test_withdrawal_on_the_page_stops_recording_at_once(
    conn: asyncpg.Connection, runtime: Runtime, app: Starlette, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    await grant(conn, runtime, scenario, "ada@example.org")
    urls = await mint_for(conn, runtime, scenario, "ada@example.org")
    await client.get(path_of(urls.pixel), headers={"user-agent": BROWSER})
    page = await client.get(path_of(urls.consent), headers={"user-agent": BROWSER})
    assert form_fields(page)["action"] == "withdraw"
    done = await client.post(path_of(urls.consent), data=form_fields(page))
    assert done.status_code == 303
    assert "Recording has stopped" in (await client.get(done.headers["location"])).text
    await client.get(path_of(urls.pixel), headers={"user-agent": BROWSER})
    assert await conn.fetchval("SELECT count(*) FROM events") == 1
    assert (await _ledger(conn))[-1] == ("withdrawn", "page")


async def test_a_page_whose_text_changed_meanwhile_must_be_read_again(
    conn: asyncpg.Connection, runtime: Runtime, app: Starlette, client: httpx.AsyncClient
) -> None:
    clock = Clock()
    app.state.consent_page.clock = clock
    path = await _page(conn, runtime, "bob@example.org")
    page = await client.get(path, headers={"user-agent": BROWSER})
    account_id = await conn.fetchval("SELECT id FROM accounts")
    await conn.execute(
        "INSERT INTO consent_texts (account_id, lang, version, purpose_version, body)"
        " VALUES ($1, 'en', 2, 1, 'A reworded text.')",
        account_id,
    )
    clock.now += 5
    stale = await client.post(path, data=form_fields(page), headers={"user-agent": BROWSER})
    assert stale.status_code == 409
    assert "A reworded text." in stale.text
    assert await _ledger(conn) == []


async def test_posts_are_rate_limited_and_bad_tokens_get_a_404(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = await _page(conn, runtime, "bob@example.org")
    statuses = [
        (await client.post(path, data={"action": "grant", "csrf": "x"})).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [403] * 10
    assert statuses[10:] == [429, 429]
    assert (await client.get("/consent/not-a-token")).status_code == 404
    assert (await client.post("/consent/not-a-token", data={"action": "grant"})).status_code == 404
