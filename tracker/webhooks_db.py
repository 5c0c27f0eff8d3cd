"""SQL of the webhooks: endpoints, the outbox, and delivery attempts."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from tracker.database import Connection

__all__ = [
    "Delivery",
    "Outcome",
    "Webhook",
    "claim_due",
    "delete_finished_before",
    "fetch_attempts",
    "fetch_deliveries",
    "fetch_hour_counts",
    "fetch_summary_subscriptions",
    "fetch_webhooks",
    "insert_webhook",
    "queue_summary",
    "record_outcomes",
    "remove_webhook",
    "replay_since",
]


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    account_id: int
    url: str
    verdicts: list[str]
    created_at: datetime
    hourly_summary: bool  # anonymous hourly campaign summaries instead of events


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
    payload: str | None  # a summary's JSON, built when it was queued; None for an event


async def insert_webhook(
    conn: Connection,
    webhook_id: int,
    account_id: int,
    url: str,
    secret: str,
    verdicts: Sequence[str],
    hourly_summary: bool = False,
) -> None:
    await conn.execute(
        "INSERT INTO webhooks (id, account_id, url, secret, verdicts, hourly_summary)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        webhook_id,
        account_id,
        url,
        secret,
        list(verdicts),
        hourly_summary,
    )


async def fetch_webhooks(conn: Connection, account_id: int) -> list[Webhook]:
    rows = await conn.fetch(
        "SELECT id, account_id, url, verdicts, created_at, hourly_summary FROM webhooks"
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


async def fetch_summary_subscriptions(conn: Connection, hour: datetime) -> list[tuple[int, int]]:
    """(webhook, account) of live summary webhooks that have not had ``hour``'s summary."""
    rows = await conn.fetch(
        "SELECT w.id, w.account_id FROM webhooks w"
        " WHERE w.hourly_summary AND w.removed_at IS NULL"
        "   AND date_trunc('hour', w.created_at) <= $1"
        "   AND NOT EXISTS (SELECT 1 FROM webhook_outbox o"
        "                   WHERE o.webhook_id = w.id AND o.summary_hour = $1)",
        hour,
    )
    return [(row["id"], row["account_id"]) for row in rows]


async def fetch_hour_counts(
    conn: Connection, account_id: int, hour: datetime
) -> list[asyncpg.Record]:
    """The account's counters of one hour: campaign, opens or clicks, verdict, events."""
    return list(
        await conn.fetch(
            "SELECT k.campaign_id, CASE WHEN k.link_no = 0 THEN 'opens' ELSE 'clicks' END AS kind,"
            "       k.verdict, sum(k.events)::bigint AS events"
            " FROM counters k JOIN campaigns c ON c.id = k.campaign_id"
            " WHERE c.account_id = $1 AND k.hour = $2"
            " GROUP BY 1, 2, 3 ORDER BY 1",
            account_id,
            hour,
        )
    )


async def queue_summary(conn: Connection, webhook_id: int, hour: datetime, payload: str) -> None:
    """Queue one hour's summary for a webhook, once (a second call does nothing)."""
    await conn.execute(
        "INSERT INTO webhook_outbox (id, webhook_id, summary_hour, payload, next_attempt_at)"
        " VALUES (gen_random_uuid(), $1, $2, $3::jsonb, now())"
        " ON CONFLICT (webhook_id, summary_hour) WHERE summary_hour IS NOT NULL DO NOTHING",
        webhook_id,
        hour,
        payload,
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
        "   (w.removed_at IS NULL AND (c.payload IS NOT NULL OR (e.id IS NOT NULL"
        "    AND e.verdict = ANY(w.verdicts) AND s.state = 'granted' AND s.expires_at > now()"
        "    AND s.purpose_version = a.purpose_version))) AS deliverable,"
        "   e.campaign_id, e.recipient_id, e.link_no, l.url AS link_url, e.at, e.verdict,"
        "   e.reasons, r.email_ciphertext, k.wrapped_key, c.payload::text AS payload"
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


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one claimed delivery."""

    delivery_id: uuid.UUID
    state: str  # delivered | failed | dropped | pending (tried again after retry_seconds)
    status: int | None = None
    error: str | None = None
    duration_ms: int = 0
    retry_seconds: float = 0.0


async def record_outcomes(conn: Connection, outcomes: Sequence[Outcome]) -> None:
    """Write a batch of outcomes, and an attempt row for each one actually posted, at once."""
    if not outcomes:
        return
    async with conn.transaction():
        await conn.execute(
            "UPDATE webhook_outbox o SET state = u.state, last_status = u.status,"
            "  last_error = u.error,"
            "  finished_at = CASE WHEN u.state = 'pending' THEN NULL ELSE now() END,"
            "  next_attempt_at = CASE WHEN u.state = 'pending'"
            "    THEN now() + make_interval(secs => u.retry) ELSE o.next_attempt_at END"
            " FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::float8[])"
            "   AS u(id, state, status, error, retry)"
            " WHERE o.id = u.id",
            [outcome.delivery_id for outcome in outcomes],
            [outcome.state for outcome in outcomes],
            [outcome.status for outcome in outcomes],
            [outcome.error for outcome in outcomes],
            [outcome.retry_seconds for outcome in outcomes],
        )
        posted = [outcome for outcome in outcomes if outcome.state != "dropped"]
        await conn.execute(
            "INSERT INTO webhook_attempts (outbox_id, status, error, duration_ms)"
            " SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::int[])",
            [outcome.delivery_id for outcome in posted],
            [outcome.status for outcome in posted],
            [outcome.error for outcome in posted],
            [outcome.duration_ms for outcome in posted],
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


async def delete_finished_before(conn: Connection, cutoff: datetime) -> int:
    """Forget deliveries (and their attempts) that ended and were queued before ``cutoff``."""
    status = await conn.execute(
        "DELETE FROM webhook_outbox WHERE state <> 'pending' AND created_at < $1", cutoff
    )
    return int(status.split()[-1])


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
