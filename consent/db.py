"""SQL of the consent package: the append-only ledger and the current state beside it."""

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
    "fetch_ledger_of_recipient",
    "fetch_state",
    "fetch_states",
    "insert_ledger_row",
    "upsert_state",
]


@dataclass(frozen=True, slots=True)
class StateRow:
    recipient_id: int
    state: str  # 'granted' or 'withdrawn'; no row means no decision yet
    text_version: int | None
    granted_at: datetime | None
    expires_at: datetime | None
    changed_at: datetime


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


async def insert_ledger_row(
    conn: Connection,
    *,
    account_id: int,
    recipient_id: int,
    action: str,
    text_version: int | None,
    text_sha256: bytes | None,
    at: datetime,
    method: str,
    evidence: dict[str, Any],
) -> int:
    ledger_id = await conn.fetchval(
        "INSERT INTO consent_ledger"
        " (account_id, recipient_id, action, text_version, text_sha256, at, method, evidence)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) RETURNING id",
        account_id,
        recipient_id,
        action,
        text_version,
        text_sha256,
        at,
        method,
        json.dumps(evidence, sort_keys=True),
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
) -> None:
    await conn.execute(
        "INSERT INTO consent_state (recipient_id, account_id, state, text_version, granted_at,"
        "                           expires_at, changed_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (recipient_id) DO UPDATE SET state = EXCLUDED.state,"
        "   text_version = EXCLUDED.text_version, granted_at = EXCLUDED.granted_at,"
        "   expires_at = EXCLUDED.expires_at, changed_at = EXCLUDED.changed_at",
        recipient_id,
        account_id,
        state,
        text_version,
        granted_at,
        expires_at,
        changed_at,
    )


_STATE = (
    "SELECT recipient_id, state, text_version, granted_at, expires_at, changed_at"
    " FROM consent_state"
)


async def fetch_state(
    conn: Connection, recipient_id: int, *, for_update: bool = False
) -> StateRow | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(_STATE + " WHERE recipient_id = $1" + lock, recipient_id)
    return _state(row) if row else None


async def fetch_states(conn: Connection, recipient_ids: Sequence[int]) -> dict[int, StateRow]:
    rows = await conn.fetch(_STATE + " WHERE recipient_id = ANY($1::bigint[])", list(recipient_ids))
    return {row["recipient_id"]: _state(row) for row in rows}


def _state(row: asyncpg.Record) -> StateRow:
    return StateRow(
        row["recipient_id"],
        row["state"],
        row["text_version"],
        row["granted_at"],
        row["expires_at"],
        row["changed_at"],
    )


async def fetch_ledger_of_recipient(conn: Connection, recipient_id: int) -> list[LedgerRow]:
    rows = await conn.fetch(
        "SELECT id, account_id, recipient_id, action, text_version, text_sha256, at, method,"
        " evidence FROM consent_ledger WHERE recipient_id = $1 ORDER BY id",
        recipient_id,
    )
    return [
        LedgerRow(
            row["id"],
            row["account_id"],
            row["recipient_id"],
            row["action"],
            row["text_version"],
            row["text_sha256"],
            row["at"],
            row["method"],
            json.loads(row["evidence"]),
        )
        for row in rows
    ]
