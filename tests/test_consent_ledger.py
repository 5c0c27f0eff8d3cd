"""Consent texts and purposes, expiry with frozen time, and imported consents."""

import json
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from consent import ledger
from consent.importing import ImportRow, import_consents
from consent.texts import current_text, set_text
from tests.factories import grant, make_campaign, mint_for, path_of, withdraw
from tracker import accounts
from tracker.errors import InvalidInput
from tracker.minting import mint
from tracker.runtime import Runtime

SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15"


async def test_text_versions_and_hashes_and_a_new_purpose_voids_earlier_grants(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    account = await accounts.get_account(conn, scenario.account_id)
    first = await current_text(conn, account, "en")
    assert first is not None and first.version == 1
    await grant(conn, runtime, scenario, "ada@example.org")

    async with conn.transaction():
        await set_text(conn, account.id, "en", "Reworded: {controller}.", new_purpose=False)
    account = await accounts.get_account(conn, scenario.account_id)
    reworded = await current_text(conn, account, "en")
    assert reworded is not None and reworded.version == 2
    assert reworded.body == "Reworded: Example Newsletter GmbH."
    assert reworded.sha256 != first.sha256
    assert (await mint_for(conn, runtime, scenario, "ada@example.org")).named

    async with conn.transaction():
        await set_text(conn, account.id, "en", "A new purpose.", new_purpose=True)
    status = await ledger.current_status(
        conn, await _recipient(conn, runtime, scenario.account_id), datetime.now(UTC)
    )
    assert status.state == "expired"
    urls = await mint_for(conn, runtime, scenario, "ada@example.org")
    assert not urls.named
    account = await accounts.get_account(conn, scenario.account_id)
    assert await current_text(conn, account, "de") is None  # no German text for the new purpose

    with pytest.raises(InvalidInput, match="unknown placeholder"):
        await set_text(conn, account.id, "en", "Hello {name}", new_purpose=False)


async def test_a_named_url_minted_before_a_purpose_change_records_nothing(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    await grant(conn, runtime, scenario, "ada@example.org")
    urls = await mint_for(conn, runtime, scenario, "ada@example.org")
    await client.get(path_of(urls.pixel), headers={"user-agent": SAFARI})
    async with conn.transaction():
        await set_text(conn, scenario.account_id, "en", "New purpose.", new_purpose=True)
    await client.get(path_of(urls.pixel), headers={"user-agent": SAFARI})
    assert await conn.fetchval("SELECT count(*) FROM events") == 1


async def test_consent_expires_after_the_validity_period(
    conn: asyncpg.Connection, runtime: Runtime
) -> None:
    scenario = await make_campaign(conn)
    await conn.execute("UPDATE accounts SET consent_validity_days = 30")
    recipient_id = await runtime.directory.find_or_create(
        conn, scenario.account_id, "ada@example.org"
    )
    account = await accounts.get_account(conn, scenario.account_id)
    granted_at = datetime(2026, 1, 1, tzinfo=UTC)
    async with conn.transaction():
        await ledger.grant(
            conn,
            account=account,
            recipient_id=recipient_id,
            method="operator",
            at=granted_at,
            evidence={"operator": "test"},
        )
    day_29 = granted_at + timedelta(days=29)
    day_31 = granted_at + timedelta(days=31)
    assert (await ledger.current_status(conn, recipient_id, day_29)).state == "granted"
    assert await ledger.expire_lapsed(conn, day_29) == 0
    async with conn.transaction():
        named = await mint(
            conn, runtime, campaign=scenario.campaign, email="ada@example.org", now=day_31
        )
    assert not named.named
    assert await ledger.expire_lapsed(conn, day_31) == 1
    assert await ledger.expire_lapsed(conn, day_31) == 0
    rows = await conn.fetch("SELECT action, method, at FROM consent_ledger ORDER BY id")
    assert [(r["action"], r["method"]) for r in rows] == [
        ("granted", "operator"),
        ("expired", "system"),
    ]
    assert rows[1]["at"] == granted_at + timedelta(days=30)
    assert (await ledger.current_status(conn, recipient_id, day_31)).state == "expired"


async def test_imported_consents_are_marked_and_never_override_a_later_withdrawal(
    conn: asyncpg.Connection, runtime: Runtime
) -> None:
    scenario = await make_campaign(conn)
    await grant(conn, runtime, scenario, "late@example.org")
    await withdraw(conn, runtime, scenario, "late@example.org")
    account = await accounts.get_account(conn, scenario.account_id)
    when = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    evidence = {"form": "newsletter sign-up", "double_opt_in": True}
    result = await import_consents(
        conn,
        runtime.directory,
        account,
        [
            ImportRow("new@example.org", when, evidence),
            ImportRow("late@example.org", when, evidence),
        ],
    )
    assert (result.imported, result.skipped) == (1, 1)
    row = await conn.fetchrow("SELECT * FROM consent_ledger WHERE method = 'import'")
    assert row is not None
    assert row["at"] == when
    assert json.loads(row["evidence"]) == {"imported": True, **evidence}


async def test_import_through_the_api_checks_token_scope_and_fields(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await make_campaign(conn)
    body = {
        "consents": [
            {
                "email": "api@example.org",
                "granted_at": "2026-04-01T08:00:00Z",
                "evidence": "double opt-in confirmed by link",
            }
        ]
    }
    url = "/api/v1/consents/import"
    assert (await client.post(url, json=body)).status_code == 401
    wrong = await client.post(url, json=body, headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401
    auth = {"authorization": f"Bearer {scenario.tokens['mailer']}"}
    bad = await client.post(url, json={"consents": [{"email": "x"}]}, headers=auth)
    assert bad.status_code == 422
    assert bad.json()["field"] == "consents[0]"
    broken = await client.post(url, content=b"{not json", headers=auth)
    assert broken.status_code == 422 and broken.json()["field"] == "body"
    done = await client.post(url, json=body, headers=auth)
    assert done.json() == {"imported": 1, "skipped": 0}
    state = await ledger.current_status(
        conn,
        await _recipient(conn, runtime, scenario.account_id, "api@example.org"),
        datetime(2026, 4, 2, tzinfo=UTC),
    )
    assert state.state == "granted"


async def _recipient(
    conn: asyncpg.Connection, runtime: Runtime, account_id: int, email: str = "ada@example.org"
) -> int:
    recipient_id = await runtime.directory.find(conn, account_id, email)
    assert recipient_id is not None
    return recipient_id
