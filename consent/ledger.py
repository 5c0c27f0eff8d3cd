"""Granting and withdrawing consent, and reading the current state.

Every change is a ledger row and a state update in one transaction (the caller's). The
state trigger notifies every server process, which drops its cached entry.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from consent import db
from tracker.database import Connection

__all__ = ["DEFAULT_VALIDITY", "ConsentStatus", "Method", "current_status", "grant", "withdraw"]

DEFAULT_VALIDITY = timedelta(days=730)  # 24 months, then a grant must be renewed
Method = Literal["page", "operator", "import"]


@dataclass(frozen=True)
class ConsentStatus:
    state: Literal["none", "granted", "withdrawn", "expired"]
    text_version: int | None
    granted_at: datetime | None
    expires_at: datetime | None


def status_of(row: db.StateRow | None, now: datetime) -> ConsentStatus:
    if row is None:
        return ConsentStatus("none", None, None, None)
    if row.state == "granted":
        assert row.expires_at is not None
        state: Literal["granted", "expired"] = "granted" if row.expires_at > now else "expired"
        return ConsentStatus(state, row.text_version, row.granted_at, row.expires_at)
    return ConsentStatus("withdrawn", row.text_version, None, None)


async def current_status(conn: Connection, recipient_id: int, now: datetime) -> ConsentStatus:
    return status_of(await db.fetch_state(conn, recipient_id), now)


async def grant(
    conn: Connection,
    *,
    account_id: int,
    recipient_id: int,
    method: Method,
    at: datetime,
    evidence: dict[str, Any],
    text_version: int | None = None,
    text_sha256: bytes | None = None,
    valid_for: timedelta = DEFAULT_VALIDITY,
) -> ConsentStatus:
    """Record a grant; a grant while one is running renews it from ``at``."""
    previous = status_of(await db.fetch_state(conn, recipient_id, for_update=True), at)
    granted_at = previous.granted_at if previous.state == "granted" else at
    await db.insert_ledger_row(
        conn,
        account_id=account_id,
        recipient_id=recipient_id,
        action="granted",
        text_version=text_version,
        text_sha256=text_sha256,
        at=at,
        method=method,
        evidence=evidence,
    )
    await db.upsert_state(
        conn,
        account_id=account_id,
        recipient_id=recipient_id,
        state="granted",
        text_version=text_version,
        granted_at=granted_at,
        expires_at=at + valid_for,
        changed_at=at,
    )
    return ConsentStatus("granted", text_version, granted_at, at + valid_for)


async def withdraw(
    conn: Connection,
    *,
    account_id: int,
    recipient_id: int,
    method: Method,
    at: datetime,
    evidence: dict[str, Any],
) -> ConsentStatus:
    previous = await db.fetch_state(conn, recipient_id, for_update=True)
    text_version = previous.text_version if previous else None
    await db.insert_ledger_row(
        conn,
        account_id=account_id,
        recipient_id=recipient_id,
        action="withdrawn",
        text_version=text_version,
        text_sha256=None,
        at=at,
        method=method,
        evidence=evidence,
    )
    await db.upsert_state(
        conn,
        account_id=account_id,
        recipient_id=recipient_id,
        state="withdrawn",
        text_version=text_version,
        granted_at=None,
        expires_at=None,
        changed_at=at,
    )
    return ConsentStatus("withdrawn", text_version, None, None)
