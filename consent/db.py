"""SQL of the consent package: the ledger, the current state, and the consent texts."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from tracker.database import Connection

__all__ = [
    "EXPORT_QUERY",
    "AuditRow",
    "ChainLink",
    "ExportRow",
    "LedgerRow",
    "StateRow",
    "StoredText",
    "count_ledger_rows",
    "delete_state",
    "export_row",
    "fetch_audit",
    "fetch_chain",
    "fetch_expired_grants",
    "fetch_latest_text",
    "fetch_ledger_of_recipient",
    "fetch_recipients_past_proof",
    "fetch_shown_text",
    "fetch_state",
    "fetch_states",
    "insert_audit",
    "insert_ledger_row",
    "insert_shown_text",
    "insert_text",
    "mark_expired",
    "purge_ledger_rows",
    "upsert_state",
]


@dataclass(frozen=True, slots=True)
class StateRow:
    recipient_id: int
    account_id: int
    state: str  # 'granted', 'withdrawn' or 'expired'; no row means no decision yet
    text_version: int | None
    granted_at: datetime | None
    expires_at: datetime | None
    changed_at: datetime
    purpose_current: bool  # given for the account's current purpose


@dataclass(frozen=True, slots=True)
class LedgerRow:
    id: int
    account_id: int
    recipient_id: int | None
    action: str
    text_version: int | None
    text_sha256: bytes | None
    at: datetime
    method: str
    evidence: dict[str, Any]
    lang: str | None
    purpose_version: int | None


@dataclass(frozen=True, slots=True)
class StoredText:
    account_id: int
    lang: str
    version: int
    purpose_version: int
    body: str


async def insert_ledger_row(
    conn: Connection,
    *,
    account_id: int,
    recipient_id: int,
    action: str,
    at: datetime,
    method: str,
    evidence: dict[str, Any],
    text_version: int | None = None,
    text_sha256: bytes | None = None,
    lang: str | None = None,
    purpose_version: int | None = None,
) -> int:
    ledger_id = await conn.fetchval(
        "INSERT INTO consent_ledger (account_id, recipient_id, action, text_version,"
        "    text_sha256, at, method, evidence, lang, purpose_version)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10) RETURNING id",
        account_id,
        recipient_id,
        action,
        text_version,
        text_sha256,
        at,
        method,
        json.dumps(evidence, sort_keys=True),
        lang,
        purpose_version,
    )
    return int(ledger_id)


async def upsert_state(
    conn: Connection,
    *,
    account_id: int,
    recipient_id: int,
    state: str,
    text_version: int | None,
    granted_at: datetime | None,
    expires_at: datetime | None,
    changed_at: datetime,
    purpose_version: int | None,
) -> None:
    await conn.execute(
        "INSERT INTO consent_state (recipient_id, account_id, state, text_version, granted_at,"
        "                           expires_at, changed_at, purpose_version)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (recipient_id) DO UPDATE SET state = EXCLUDED.state,"
        "   text_version = EXCLUDED.text_version, granted_at = EXCLUDED.granted_at,"
        "   expires_at = EXCLUDED.expires_at, changed_at = EXCLUDED.changed_at,"
        "   purpose_version = EXCLUDED.purpose_version",
        recipient_id,
        account_id,
        state,
        text_version,
        granted_at,
        expires_at,
        changed_at,
        purpose_version,
    )


_STATE = (
    "SELECT s.recipient_id, s.account_id, s.state, s.text_version, s.granted_at,"
    "       s.expires_at, s.changed_at,"
    "       s.purpose_version IS NOT DISTINCT FROM a.purpose_version AS purpose_current"
    " FROM consent_state s JOIN accounts a ON a.id = s.account_id"
)


async def fetch_state(
    conn: Connection, recipient_id: int, *, for_update: bool = False
) -> StateRow | None:
    lock = " FOR UPDATE OF s" if for_update else ""
    row = await conn.fetchrow(_STATE + " WHERE s.recipient_id = $1" + lock, recipient_id)
    return _state(row) if row else None


async def fetch_states(conn: Connection, recipient_ids: Sequence[int]) -> dict[int, StateRow]:
    rows = await conn.fetch(
        _STATE + " WHERE s.recipient_id = ANY($1::bigint[])", list(recipient_ids)
    )
    return {row["recipient_id"]: _state(row) for row in rows}


async def fetch_expired_grants(conn: Connection, now: datetime, limit: int) -> list[StateRow]:
    rows = await conn.fetch(
        _STATE + " WHERE s.state = 'granted' AND s.expires_at <= $1"
        " ORDER BY s.expires_at LIMIT $2 FOR UPDATE OF s SKIP LOCKED",
        now,
        limit,
    )
    return [_state(row) for row in rows]


async def mark_expired(conn: Connection, recipient_id: int, at: datetime) -> None:
    await conn.execute(
        "UPDATE consent_state SET state = 'expired', changed_at = $2 WHERE recipient_id = $1",
        recipient_id,
        at,
    )


def _state(row: asyncpg.Record) -> StateRow:
    return StateRow(**dict(row))


_LEDGER = (
    "SELECT id, account_id, recipient_id, action, text_version, text_sha256, at, method,"
    " evidence, lang, purpose_version FROM consent_ledger"
)


async def fetch_ledger_of_recipient(conn: Connection, recipient_id: int) -> list[LedgerRow]:
    rows = await conn.fetch(_LEDGER + " WHERE recipient_id = $1 ORDER BY id", recipient_id)
    return [LedgerRow(**{**dict(row), "evidence": json.loads(row["evidence"])}) for row in rows]


async def fetch_latest_text(conn: Connection, account_id: int, lang: str) -> StoredText | None:
    row = await conn.fetchrow(
        "SELECT account_id, lang, version, purpose_version, body FROM consent_texts"
        " WHERE account_id = $1 AND lang = $2 ORDER BY version DESC LIMIT 1",
        account_id,
        lang,
    )
    return StoredText(**dict(row)) if row else None


async def insert_text(
    conn: Connection, account_id: int, lang: str, purpose_version: int, body: str
) -> StoredText:
    """Add the next version of an account's text in one language."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", account_id)
    row = await conn.fetchrow(
        "INSERT INTO consent_texts (account_id, lang, version, purpose_version, body)"
        " SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4 FROM consent_texts"
        "  WHERE account_id = $1 AND lang = $2"
        " RETURNING account_id, lang, version, purpose_version, body",
        account_id,
        lang,
        purpose_version,
        body,
    )
    assert row is not None
    return StoredText(**dict(row))


async def insert_shown_text(conn: Connection, sha256: bytes, body: str) -> None:
    await conn.execute(
        "INSERT INTO consent_texts_shown (sha256, body) VALUES ($1, $2)"
        " ON CONFLICT (sha256) DO NOTHING",
        sha256,
        body,
    )


async def fetch_shown_text(conn: Connection, sha256: bytes) -> str | None:
    body = await conn.fetchval("SELECT body FROM consent_texts_shown WHERE sha256 = $1", sha256)
    return str(body) if body is not None else None


@dataclass(frozen=True, slots=True)
class ChainLink:
    seq: int
    id: int | None  # None for a row removed by retention
    prev_hash: bytes | None
    row_hash: bytes
    recomputed: bytes | None  # the hash of the row's content as it is now


async def fetch_chain(conn: Connection, account_id: int) -> list[ChainLink]:
    """Every ledger row of an account, and every purged one, in chain order."""
    rows = await conn.fetch(
        "SELECT seq, id, prev_hash, row_hash,"
        "       sha256(prev_hash || consent_ledger_content(l)) AS recomputed"
        " FROM consent_ledger l WHERE account_id = $1"
        " UNION ALL"
        " SELECT seq, NULL, NULL, row_hash, NULL FROM consent_ledger_purged"
        " WHERE account_id = $1"
        " ORDER BY seq",
        account_id,
    )
    return [ChainLink(**dict(row)) for row in rows]


async def purge_ledger_rows(conn: Connection, account_id: int, recipient_ids: list[int]) -> int:
    """Remove recipients' ledger rows, leaving their hashes for the chain. Own transaction."""
    await conn.execute("SET LOCAL tracker.purging_ledger = 'on'")
    await conn.execute(
        "INSERT INTO consent_ledger_purged (account_id, seq, row_hash)"
        " SELECT account_id, seq, row_hash FROM consent_ledger"
        " WHERE account_id = $1 AND recipient_id = ANY($2::bigint[])",
        account_id,
        recipient_ids,
    )
    deleted = await conn.execute(
        "DELETE FROM consent_ledger WHERE account_id = $1 AND recipient_id = ANY($2::bigint[])",
        account_id,
        recipient_ids,
    )
    await conn.execute("SET LOCAL tracker.purging_ledger = 'off'")
    return int(deleted.split()[-1])


async def fetch_recipients_past_proof(
    conn: Connection, account_id: int, before: datetime
) -> list[int]:
    """Recipients whose last decision was not a running grant and is older than ``before``."""
    rows = await conn.fetch(
        "SELECT recipient_id FROM ("
        "  SELECT DISTINCT ON (recipient_id) recipient_id, action, at FROM consent_ledger"
        "  WHERE account_id = $1 AND recipient_id IS NOT NULL"
        "  ORDER BY recipient_id, seq DESC) AS last"
        " WHERE action <> 'granted' AND at < $2",
        account_id,
        before,
    )
    return [row["recipient_id"] for row in rows]


@dataclass(frozen=True, slots=True)
class ExportRow:
    seq: int
    recipient_id: int | None
    email_ciphertext: bytes | None
    wrapped_key: bytes | None
    action: str
    text_version: int | None
    text_sha256: bytes | None
    text: str | None
    at: datetime
    method: str
    evidence: str
    lang: str | None
    row_hash: bytes


EXPORT_QUERY = (
    "SELECT l.seq, l.recipient_id, r.email_ciphertext, k.wrapped_key, l.action,"
    "       l.text_version, l.text_sha256, t.body AS text, l.at, l.method,"
    "       l.evidence::text AS evidence, l.lang, l.row_hash"
    " FROM consent_ledger l"
    " LEFT JOIN recipients r ON r.id = l.recipient_id"
    " LEFT JOIN recipient_keys k ON k.recipient_id = l.recipient_id"
    " LEFT JOIN consent_texts_shown t ON t.sha256 = l.text_sha256"
    " WHERE l.account_id = $1 ORDER BY l.seq"
)


def export_row(record: asyncpg.Record) -> ExportRow:
    return ExportRow(**dict(record))


async def count_ledger_rows(conn: Connection, account_id: int) -> int:
    return int(
        await conn.fetchval("SELECT count(*) FROM consent_ledger WHERE account_id = $1", account_id)
    )


async def insert_audit(
    conn: Connection, account_id: int, actor: str, action: str, detail: dict[str, Any]
) -> None:
    await conn.execute(
        "INSERT INTO dpo_audit (account_id, actor, action, detail) VALUES ($1, $2, $3, $4::jsonb)",
        account_id,
        actor,
        action,
        json.dumps(detail, sort_keys=True),
    )


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


async def fetch_audit(conn: Connection, account_id: int, limit: int) -> list[AuditRow]:
    rows = await conn.fetch(
        "SELECT id, at, actor, action, detail FROM dpo_audit WHERE account_id = $1"
        " ORDER BY id DESC LIMIT $2",
        account_id,
        limit,
    )
    return [
        AuditRow(r["id"], r["at"], r["actor"], r["action"], json.loads(r["detail"])) for r in rows
    ]


async def delete_state(conn: Connection, recipient_id: int) -> None:
    await conn.execute("DELETE FROM consent_state WHERE recipient_id = $1", recipient_id)
    await conn.execute("SELECT pg_notify('consent_changed', $1)", str(recipient_id))
