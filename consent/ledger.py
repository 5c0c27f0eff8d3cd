"""Granting, withdrawing, refusing and expiring consent, and reading the current state.

Every change is a ledger row and a state update in one transaction (the caller's). The
state trigger notifies every server process, which drops its cached entry. A grant counts
while it is unexpired and was given for the account's current purpose.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from consent import db
from consent.texts import ShownText
from tracker.database import Connection
from tracker.db import Account

__all__ = [
    "ConsentStatus",
    "Method",
    "current_status",
    "expire_lapsed",
    "grant",
    "refuse",
    "status_of",
    "withdraw",
]

Method = Literal["page", "operator", "import"]
State = Literal["none", "granted", "withdrawn", "expired"]


@dataclass(frozen=True)
class ConsentStatus:
    state: State
    text_version: int | None
    granted_at: datetime | None
    expires_at: datetime | None


def status_of(row: db.StateRow | None, now: datetime) -> ConsentStatus:
    if row is None:
        return ConsentStatus("none", None, None, None)
    if row.state == "granted":
        assert row.expires_at is not None
        counts = row.expires_at > now and row.purpose_current
        state: State = "granted" if counts else "expired"
        return ConsentStatus(state, row.text_version, row.granted_at, row.expires_at)
    if row.state == "expired":
        return ConsentStatus("expired", row.text_version, row.granted_at, row.expires_at)
    return ConsentStatus("withdrawn", row.text_version, None, None)


async def current_status(conn: Connection, recipient_id: int, now: datetime) -> ConsentStatus:
    return status_of(await db.fetch_state(conn, recipient_id), now)


async def grant(
    conn: Connection,
    *,
    account: Account,
    recipient_id: int,
    method: Method,
    at: datetime,
    evidence: dict[str, Any],
    text: ShownText | None = None,
) -> ConsentStatus:
    """Record a grant for the account's current purpose, valid for its validity period.

    A grant while one is running renews it from ``at``. ``text`` is what the person was
    shown; its exact body is kept by hash.
    """
    previous = status_of(await db.fetch_state(conn, recipient_id, for_update=True), at)
    granted_at = previous.granted_at if previous.state == "granted" else at
    expires_at = at + timedelta(days=account.consent_validity_days)
    if text is not None:
        await db.insert_shown_text(conn, text.sha256, text.body)
    await db.insert_ledger_row(
        conn,
        account_id=account.id,
        recipient_id=recipient_id,
        action="granted",
        at=at,
        method=method,
        evidence=evidence,
        text_version=text.version if text else None,
        text_sha256=text.sha256 if text else None,
        lang=text.lang if text else None,
        purpose_version=account.purpose_version,
    )
    await db.upsert_state(
        conn,
        account_id=account.id,
        recipient_id=recipient_id,
        state="granted",
        text_version=text.version if text else None,
        granted_at=granted_at,
        expires_at=expires_at,
        changed_at=at,
        purpose_version=account.purpose_version,
    )
    return ConsentStatus("granted", text.version if text else None, granted_at, expires_at)


async def withdraw(
    conn: Connection,
    *,
    account: Account,
    recipient_id: int,
    method: Method,
    at: datetime,
    evidence: dict[str, Any],
    lang: str | None = None,
) -> ConsentStatus:
    previous = await db.fetch_state(conn, recipient_id, for_update=True)
    text_version = previous.text_version if previous else None
    await db.insert_ledger_row(
        conn,
        account_id=account.id,
        recipient_id=recipient_id,
        action="withdrawn",
        at=at,
        method=method,
        evidence=evidence,
        text_version=text_version,
        lang=lang,
        purpose_version=account.purpose_version,
    )
    await db.upsert_state(
        conn,
        account_id=account.id,
        recipient_id=recipient_id,
        state="withdrawn",
        text_version=text_version,
        granted_at=None,
        expires_at=None,
        changed_at=at,
        purpose_version=account.purpose_version,
    )
    return ConsentStatus("withdrawn", text_version, None, None)


async def refuse(
    conn: Connection,
    *,
    account: Account,
    recipient_id: int,
    at: datetime,
    evidence: dict[str, Any],
    text: ShownText | None,
) -> None:
    """Log a grant that was not accepted (a machine, or too fast); the state is unchanged."""
    await db.insert_ledger_row(
        conn,
        account_id=account.id,
        recipient_id=recipient_id,
        action="refused",
        at=at,
        method="page",
        evidence=evidence,
        text_version=text.version if text else None,
        text_sha256=text.sha256 if text else None,
        lang=text.lang if text else None,
        purpose_version=account.purpose_version,
    )


async def expire_lapsed(conn: Connection, now: datetime, *, batch: int = 1000) -> int:
    """Write an 'expired' ledger row for every grant past its validity; returns how many."""
    expired = 0
    while True:
        async with conn.transaction():
            rows = await db.fetch_expired_grants(conn, now, batch)
            for row in rows:
                await _expire(conn, row)
        expired += len(rows)
        if len(rows) < batch:
            return expired


async def _expire(conn: Connection, row: db.StateRow) -> None:
    assert row.expires_at is not None
    await db.insert_ledger_row(
        conn,
        account_id=row.account_id,
        recipient_id=row.recipient_id,
        action="expired",
        at=row.expires_at,
        method="system",
        evidence={"reason": "validity period ended"},
        text_version=row.text_version,
    )
    await db.mark_expired(conn, row.recipient_id, row.expires_at)
