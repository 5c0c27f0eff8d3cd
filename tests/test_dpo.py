"""The DPO's tools: a ledger that catches tampering, export, access, erasure, retention,
the record of processing, and the audit log of it all."""

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent import ledger
from consent.chain import verify_ledger
from consent.export import ExportProgress, export_chunks
from consent.retention import purge
from consent.ropa import build_ropa, render_ropa
from consent.subject import access, erase, render_access_letter
from tests.factories import Scenario, grant, make_campaign, mint_for, path_of, withdraw
from tracker import accounts
from tracker.db import update_account_settings
from tracker.ids import format_id
from tracker.runtime import Runtime

SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15"


async def _history(conn: asyncpg.Connection, runtime: Runtime) -> Scenario:
    scenario = await make_campaign(conn)
    for email in ("ada@example.org", "bob@example.org", "eve@example.org"):
        await grant(conn, runtime, scenario, email)
    await withdraw(conn, runtime, scenario, "bob@example.org")
    return scenario


async def _tamper(conn: asyncpg.Connection, sql: str) -> None:
    """What someone with superuser rights could do behind the application's back."""
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(sql)


async def test_ledger_verifies_and_catches_a_changed_removed_or_reordered_row(
    conn: asyncpg.Connection, runtime: Runtime
) -> None:
    scenario = await _history(conn, runtime)
    report = await verify_ledger(conn, scenario.account_id)
    assert (report.ok, report.rows) == (True, 4)

    await _tamper(conn, "UPDATE consent_ledger SET action = 'granted' WHERE seq = 4")
    report = await verify_ledger(conn, scenario.account_id)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert report.problem is not None and "changed" in report.problem
    await _tamper(conn, "UPDATE consent_ledger SET action = 'withdrawn' WHERE seq = 4")
    assert (await verify_ledger(conn, scenario.account_id)).ok

    await _tamper(conn, "UPDATE consent_ledger SET seq = -seq WHERE seq IN (2, 3)")
    await _tamper(conn, "UPDATE consent_ledger SET seq = 5 + seq WHERE seq IN (-2, -3)")
    reordered = await verify_ledger(conn, scenario.account_id)  # rows 2 and 3 swapped
    assert (reordered.ok, reordered.first_bad_seq) == (False, 2)

    fresh = await _history(conn, runtime)
    await _tamper(
        conn, f"DELETE FROM consent_ledger WHERE account_id = {fresh.account_id} AND seq = 2"
    )
    removed = await verify_ledger(conn, fresh.account_id)
    assert (removed.ok, removed.first_bad_seq) == (False, 3)
    assert removed.problem is not None and "row 2 is missing" in removed.problem


async def test_the_database_refuses_to_change_or_delete_ledger_rows(
    conn: asyncpg.Connection, runtime: Runtime
) -> None:
    await _history(conn, runtime)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await conn.execute("UPDATE consent_ledger SET action = 'granted'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await conn.execute("DELETE FROM consent_ledger")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await conn.execute("TRUNCATE consent_ledger CASCADE")
    assert await conn.fetchval("SELECT count(*) FROM consent_ledger") == 4


async def _export(conn: asyncpg.Connection, runtime: Runtime, account_id: int, fmt: str) -> str:
    progress = ExportProgress()
    chunks = [
        c async for c in export_chunks(conn, runtime.directory.vault, account_id, fmt, progress)
    ]
    return "".join(chunks)


async def test_export_lists_every_row_with_address_text_hash_and_method(
    conn: asyncpg.Connection, runtime: Runtime
) -> None:
    scenario = await _history(conn, runtime)
    rows = json.loads(await _export(conn, runtime, scenario.account_id, "json"))
    assert [(r["recipient"], r["action"], r["method"]) for r in rows] == [
        ("ada@example.org", "granted", "operator"),
        ("bob@example.org", "granted", "operator"),
        ("eve@example.org", "granted", "operator"),
        ("bob@example.org", "withdrawn", "operator"),
    ]
    csv_text = await _export(conn, runtime, scenario.account_id, "csv")
    lines = csv_text.strip().splitlines()
    assert (
        lines[0] == "seq,recipient,action,text_version,text_sha256,at,method,evidence,lang,row_hash"
    )
    assert len(lines) == 5 and "eve@example.org,granted" in lines[3]


async def test_access_gives_consent_history_events_and_the_counters_explained(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await _history(conn, runtime)
    urls = await mint_for(conn, runtime, scenario, "ada@example.org")
    await client.get(path_of(urls.pixel), headers={"user-agent": SAFARI})
    await client.get(path_of(urls.links[next(iter(urls.links))]), headers={"user-agent": "curl/8"})
    account = await accounts.get_account(conn, scenario.account_id)
    data = await access(conn, runtime.directory, account, "ada@example.org", "test")
    assert data["consent_state"] == "granted"
    assert [row["action"] for row in data["consent"]] == ["granted"]
    assert [(e["kind"], e["verdict"]) for e in data["events"]] == [
        ("open", "human"),
        ("click", "machine"),
    ]
    assert data["events"][1]["reasons"] == ["http_library"]
    assert "no identifier" in data["anonymous_counters"]
    letter = render_access_letter(data)
    assert "# Information about the data held on ada@example.org" in letter
    assert "| click | https://example.org/offer?id=1 | machine |" in letter


async def _dump_bytes(conn: asyncpg.Connection) -> bytes:
    tables = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
    )
    dump = b""
    for table in tables:
        for row in await conn.fetch(f'SELECT * FROM "{table["relname"]}"'):
            for value in row.values():
                dump += bytes(value) if isinstance(value, bytes) else str(value).encode()
                dump += b"\x00"
    return dump


async def test_erasure_leaves_no_readable_trace_and_reports_still_add_up(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await _history(conn, runtime)
    urls = await mint_for(conn, runtime, scenario, "ada@example.org")
    for _ in range(3):
        await client.get(path_of(urls.pixel), headers={"user-agent": SAFARI})
    recipient_id = await runtime.directory.find(conn, scenario.account_id, "ada@example.org")
    wrapped = await conn.fetchval(
        "SELECT wrapped_key FROM recipient_keys WHERE recipient_id = $1", recipient_id
    )
    data_key = AESGCM(runtime.secrets.kek).decrypt(
        wrapped[:12], wrapped[12:], f"data-key:{recipient_id}".encode()
    )
    counters_before = await conn.fetchval("SELECT sum(events) FROM counters")
    account = await accounts.get_account(conn, scenario.account_id)

    result = await erase(conn, runtime.directory, account, "ada@example.org", "test")
    assert result == {"erased": True, "events_deleted": 3, "key_destroyed": True}

    dump = await _dump_bytes(conn)
    assert b"ada@example.org" not in dump
    assert wrapped not in dump and data_key not in dump and data_key.hex().encode() not in dump
    assert await conn.fetchval("SELECT count(*) FROM events") == 0
    assert await conn.fetchval("SELECT sum(events) FROM counters") == counters_before == 3
    assert await runtime.directory.find(conn, scenario.account_id, "ada@example.org") is None
    rows = json.loads(await _export(conn, runtime, scenario.account_id, "json"))
    assert [(r["recipient"], r["action"]) for r in rows if r["action"] == "erased"] == [
        ("erased", "erased")
    ]
    assert rows[0]["recipient"] == "erased"  # her earlier grant no longer names her
    assert (await verify_ledger(conn, scenario.account_id)).ok
    consent_page = await client.get(path_of(urls.consent))
    assert consent_page.status_code == 404
    await client.get(path_of(urls.pixel), headers={"user-agent": SAFARI})
    assert await conn.fetchval("SELECT count(*) FROM events") == 0


async def test_purge_drops_old_months_deletes_past_retention_and_old_proof(
    conn: asyncpg.Connection, runtime: Runtime
) -> None:
    now = datetime(2027, 6, 15, 12, tzinfo=UTC)
    scenario = await make_campaign(conn)
    account = await accounts.get_account(conn, scenario.account_id)
    ada = await runtime.directory.find_or_create(conn, account.id, "ada@example.org")
    old = await runtime.directory.find_or_create(conn, account.id, "old@example.org")
    async with conn.transaction():
        await ledger.grant(
            conn,
            account=account,
            recipient_id=ada,
            method="operator",
            at=now - timedelta(days=300),
            evidence={"t": 1},
        )
        await ledger.grant(
            conn,
            account=account,
            recipient_id=old,
            method="operator",
            at=now - timedelta(days=2000),
            evidence={"t": 2},
        )
        await ledger.withdraw(
            conn,
            account=account,
            recipient_id=old,
            method="operator",
            at=now - timedelta(days=1500),
            evidence={"t": 3},
        )
    await conn.execute("SELECT ensure_events_partition($1::date)", now - timedelta(days=250))
    for days in (250, 120, 10):
        await conn.execute(
            "INSERT INTO events (id, campaign_id, recipient_id, link_no, at, verdict)"
            " VALUES (gen_random_uuid(), $1, $2, 0, $3, 'human')",
            scenario.campaign.id,
            ada,
            now - timedelta(days=days),
        )

    result = await purge(conn, now, "test")
    old_month = (now - timedelta(days=250)).strftime("events_y%Ym%m")
    assert old_month in result.dropped_partitions
    assert await conn.fetchval("SELECT count(*) FROM events") == 2  # 120 and 10 days old
    await update_account_settings(conn, account.id, {"retention_days": 30})
    result = await purge(conn, now, "test")
    assert result.events_deleted == 1
    assert (result.ledger_rows_purged, result.recipients_forgotten) == (0, 0)
    assert await conn.fetchval("SELECT count(*) FROM consent_ledger") == 1  # ada's grant
    assert await conn.fetchval("SELECT count(*) FROM consent_ledger_purged") == 2
    assert await conn.fetchval("SELECT count(*) FROM recipients WHERE id = $1", old) == 0
    report = await verify_ledger(conn, account.id)
    assert (report.ok, report.rows, report.purged) == (True, 1, 2)
    assert await conn.fetchval("SELECT ensure_events_partition($1::date)", now) is not None


async def test_ropa_is_built_from_the_accounts_live_settings(
    conn: asyncpg.Connection, runtime: Runtime
) -> None:
    scenario = await make_campaign(conn)
    await update_account_settings(
        conn,
        scenario.account_id,
        {
            "controller_name": "Beispiel Verlag GmbH",
            "dpo_contact": "datenschutz@beispiel.de",
            "retention_days": 90,
            "controller_address": "Hauptstr. 1, 10115 Berlin",
        },
    )
    record = build_ropa(await accounts.get_account(conn, scenario.account_id))
    assert record["controller"]["name"] == "Beispiel Verlag GmbH"
    assert record["dpo"] == "datenschutz@beispiel.de"
    assert record["retention"]["events_days"] == 90
    assert record["third_country_transfers"] == "none"
    markdown = render_ropa(record)
    assert "- Address: Hauptstr. 1, 10115 Berlin" in markdown
    assert "- Opens and clicks: 90 days" in markdown


async def test_dpo_api_needs_the_dpo_scope_and_every_use_is_audited(
    conn: asyncpg.Connection, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    scenario = await _history(conn, runtime)
    mailer = {"authorization": f"Bearer {scenario.tokens['mailer']}"}
    dpo = {"authorization": f"Bearer {scenario.tokens['dpo']}"}
    assert (await client.get("/api/v1/dpo/verify-ledger", headers=mailer)).status_code == 403
    assert (await client.get("/api/v1/dpo/verify-ledger")).status_code == 401
    verified = await client.get("/api/v1/dpo/verify-ledger", headers=dpo)
    assert verified.json()["ok"] is True and verified.json()["rows"] == 4
    exported = await client.get("/api/v1/dpo/consents?format=csv", headers=dpo)
    assert exported.text.count("\n") == 5
    found = await client.post("/api/v1/dpo/access", json={"email": "eve@example.org"}, headers=dpo)
    assert found.json()["consent_state"] == "granted"
    missing = await client.post(
        "/api/v1/dpo/access", json={"email": "nobody@example.org"}, headers=dpo
    )
    assert missing.status_code == 404
    bad = await client.post("/api/v1/dpo/erase", json={"mail": "x"}, headers=dpo)
    assert bad.status_code == 422 and bad.json()["field"] == "email"
    erased = await client.post("/api/v1/dpo/erase", json={"email": "eve@example.org"}, headers=dpo)
    assert erased.json()["erased"] is True
    ropa = await client.get("/api/v1/dpo/ropa?format=md", headers=dpo)
    assert ropa.text.startswith("# Record of processing activities")

    log = (await client.get("/api/v1/dpo/audit", headers=dpo)).json()
    actions = [entry["action"] for entry in reversed(log)]
    for expected in ("verify-ledger", "export-consents", "access", "erase", "ropa"):
        assert expected in actions
    assert actions.count("api") >= 8
    # The server's own daily purge may have run meanwhile (it is audited per account too).
    assert all(
        entry["actor"].startswith("api:") for entry in log if entry["actor"] != "server:daily"
    )


def test_verify_ledger_command_exits_non_zero_naming_the_bad_row(
    dsn: str, runtime: Runtime, test_env: dict[str, str]
) -> None:
    async def prepare() -> tuple[int, int]:
        conn = await asyncpg.connect(dsn)
        try:
            scenario = await _history(conn, runtime)
            row_id = await conn.fetchval("SELECT id FROM consent_ledger WHERE seq = 3")
            await _tamper(
                conn, "UPDATE consent_ledger SET at = at + interval '1 day' WHERE seq = 3"
            )
            return scenario.account_id, row_id
        finally:
            await conn.close()

    account_id, row_id = asyncio.run(prepare())
    account = format_id("acc", account_id)
    run = subprocess.run(
        [sys.executable, "-m", "tracker.cli", "dpo", "verify-ledger", "--account", account],
        env={**os.environ, **test_env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"tracker: ledger row 3 (id {row_id}) fails: its content was changed after it was written"
    ]
