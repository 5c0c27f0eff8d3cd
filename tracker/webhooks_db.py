"""SQL of the webhooks: endpoints, the outbox, and delivery attempts."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from tracker.database import Connection

__all__ = [
    "Delivery",
    "Webhook",
    "claim_due",
    "fetch_attempts",
    "fetch_deliveries",
    "fetch_webhooks",
    "finish",
    "insert_webhook",
    "queue_deliveries",
    "remove_webhook",
    "replay_since",
    "retry_later",
]


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    account_id: int
    url: str
    verdicts: list[str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed outbox row with what it takes to build and sign its payload."""

    id: uuid.UUID
    url: str
    secret: str
    attempts: int
    created_at: datetime
    deliverable: bool  # the webhook is live, the event still exists, consent is granted
    campaign_id: int | None
    recipient_id: int | None
    link_no: int | None
    link_url: str | None
    at: datetime | None
    verdict: str | None
    reasons: list[str] | None
    email_ciphertext: bytes | None
    wrapped_key: bytes | None


async def insert_webhook(
    conn: Connection,
    webhook_id: int,
    account_id: int,
    url: str,
    secret: str,
    verdicts: Sequence[str],
) -> None:
    await conn.execute(
        "INSERT INTO webhooks (id, account_id, url, secret, verdicts) VALUES ($1, $2, $3, $4, $5)",
        webhook_id,
        account_id,
        url,
        secret,
        list(verdicts),
    )


async def fetch_webhooks(conn: Connection, account_id: int) -> list[Webhook]:
    rows = await conn.fetch(
        "SELECT id, account_id, url, verdicts, created_at FROM webhooks"
        " WHERE account_id = $1 AND removed_at IS NULL ORDER BY created_at",
        account_id,
    )
    return [Webhook(**dict(row)) for row in rows]


async def remove_webhook(conn: Connection, account_id: int, webhook_id: int) -> bool:
    status = await conn.execute(
        "UPDATE webhooks SET removed_at = now()"
        " WHERE id = $1 AND account_id = $2 AND removed_at IS NULL",
        webhook_id,
        account_id,
    )
    return status.endswith(" 1")


async def queue_deliveries(
    conn: Connection, events: Sequence[tuple[uuid.UUID, datetime]], hold_seconds: float
) -> None:
    """Queue the events just recorded for every matching webhook (same transaction)."""
    if not events:
        return
    await conn.execute(
        "INSERT INTO webhook_outbox (id, webhook_id, event_id, event_at, next_attempt_at)"
        " SELECT gen_random_uuid(), w.id, e.id, e.at, now() + make_interval(secs => $3)"
        " FROM unnest($1::uuid[], $2::timestamptz[]) AS q(id, at)"
        " JOIN events e ON e.id = q.id AND e.at = q.at"
        " JOIN campaigns c ON c.id = e.campaign_id"
        " JOIN webhooks w ON w.account_id = c.account_id AND w.removed_at IS NULL"
        "      AND e.verdict = ANY(w.verdicts)",
        [event_id for event_id, _ in events],
        [at for _, at in events],
        hold_seconds,
    )


async def claim_due(conn: Connection, limit: int, lease_seconds: float) -> list[Delivery]:
    """Take up to ``limit`` due deliveries for ``lease_seconds`` (other processes skip them)."""
    rows = await conn.fetch(
        "WITH claimed AS ("
        "  UPDATE webhook_outbox o SET next_attempt_at = now() + make_interval(secs => $2),"
        "         attempts = o.attempts + 1"
        "  WHERE o.id IN (SELECT id FROM webhook_outbox WHERE state = 'pending'"
        "                 AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1"
        "                 FOR UPDATE SKIP LOCKED)"
        "  RETURNING o.*)"
        " SELECT c.id, w.url, w.secret, c.attempts, c.created_at,"
        "   (w.removed_at IS NULL AND e.id IS NOT NULL AND e.verdict = ANY(w.verdicts)"
        "    AND s.state = 'granted' AND s.expires_at > now()"
        "    AND s.purpose_version = a.purpose_version) AS deliverable,"
        "   e.campaign_id, e.recipient_id, e.link_no, l.url AS link_url, e.at, e.verdict,"
        "   e.reasons, r.email_ciphertext, k.wrapped_key"
        " FROM claimed c JOIN webhooks w ON w.id = c.webhook_id"
        " JOIN accounts a ON a.id = w.account_id"
        " LEFT JOIN events e ON e.id = c.event_id AND e.at = c.event_at"
        " LEFT JOIN links l ON l.campaign_id = e.campaign_id AND l.link_no = e.link_no"
        " LEFT JOIN consent_state s ON s.recipient_id = e.recipient_id"
        " LEFT JOIN recipients r ON r.id = e.recipient_id"
        " LEFT JOIN recipient_keys k ON k.recipient_id = e.recipient_id",
        limit,
        lease_seconds,
    )
    return [Delivery(**{**dict(row), "deliverable": bool(row["deliverable"])}) for row in rows]


async def finish(
    conn: Connection,
    delivery_id: uuid.UUID,
    state: str,
    status: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    await conn.execute(
        "UPDATE webhook_outbox SET state = $2, finished_at = now(), last_status = $3,"
        " last_error = $4 WHERE id = $1",
        delivery_id,
        state,
        status,
        error,
    )
    if state != "dropped":
        await _attempt(conn, delivery_id, status, error, duration_ms)


async def retry_later(
    conn: Connection,
    delivery_id: uuid.UUID,
    delay_seconds: float,
    status: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    await conn.execute(
        "UPDATE webhook_outbox SET next_attempt_at = now() + make_interval(secs => $2),"
        " last_status = $3, last_error = $4 WHERE id = $1",
        delivery_id,
        delay_seconds,
        status,
        error,
    )
    await _attempt(conn, delivery_id, status, error, duration_ms)


async def _attempt(
    conn: Connection,
    delivery_id: uuid.UUID,
    status: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    await conn.execute(
        "INSERT INTO webhook_attempts (outbox_id, status, error, duration_ms)"
        " VALUES ($1, $2, $3, $4)",
        delivery_id,
        status,
        error,
        duration_ms,
    )


async def fetch_deliveries(
    conn: Connection, account_id: int, webhook_id: int, limit: int
) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT o.id, o.state, o.attempts, o.created_at, o.finished_at, o.last_status,"
            "       o.last_error FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id"
            " WHERE w.id = $1 AND w.account_id = $2 ORDER BY o.created_at DESC LIMIT $3",
            webhook_id,
            account_id,
            limit,
        )
    )


async def fetch_attempts(conn: Connection, delivery_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT at, status, error, duration_ms FROM webhook_attempts WHERE outbox_id = $1"
            " ORDER BY id",
            delivery_id,
        )
    )


async def replay_since(conn: Connection, account_id: int, webhook_id: int, since: datetime) -> int:
    """Send again what was delivered or given up since ``since`` (same webhook-ids)."""
    status = await conn.execute(
        "UPDATE webhook_outbox o SET state = 'pending', next_attempt_at = now(),"
        " finished_at = NULL FROM webhooks w"
        " WHERE w.id = o.webhook_id AND w.id = $1 AND w.account_id = $2"
        "   AND o.state IN ('delivered', 'failed') AND o.created_at >= $3",
        webhook_id,
        account_id,
        since,
    )
    return int(status.split()[-1])
