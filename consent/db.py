"""SQL of the consent package: the ledger, the current state, and the consent texts."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from tracker.database import Connection

__all__ = [
    "LedgerRow",
    "StateRow",
    "StoredText",
    "fetch_expired_grants",
    "fetch_latest_text",
    "fetch_ledger_of_recipient",
    "fetch_shown_text",
    "fetch_state",
    "fetch_states",
    "insert_ledger_row",
    "insert_shown_text",
    "insert_text",
    "mark_expired",
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
