"""SQL of the tracker package: accounts, API tokens, recipients, campaigns, links, events.

Functions take the connection first, use $n parameters only, and return frozen dataclasses.
The caller owns the transaction.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from aggregates.db import CounterKey, RegisterKey
from tracker.database import Connection

__all__ = [
    "Account",
    "Campaign",
    "EventPartition",
    "EventRow",
    "Link",
    "Recipient",
    "RecipientEvent",
    "advance_purpose",
    "delete_events_past_retention",
    "delete_recipient_events",
    "delete_recorded_groups_before",
    "delete_unreferenced_recipients",
    "drop_event_partition",
    "ensure_event_partitions",
    "ensure_honeypot_link",
    "fetch_account",
    "fetch_campaign",
    "fetch_campaigns_page",
    "fetch_event_partitions",
    "fetch_links",
    "fetch_links_of_campaigns",
    "fetch_longest_retention_days",
    "fetch_proof_periods",
    "fetch_recent_campaign_ids",
    "fetch_recipient",
    "fetch_recipient_by_index",
    "fetch_recipient_events",
    "fetch_token",
    "insert_account",
    "insert_api_token",
    "insert_campaign",
    "insert_links",
    "insert_recipient",
    "record_group",
    "shred_recipient",
    "update_account_settings",
]


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    created_at: datetime
    controller_name: str | None = None
    controller_address: str | None = None
    contact_email: str | None = None
    dpo_contact: str | None = None
    privacy_url: str | None = None
    consent_validity_days: int = 730
    retention_days: int = 180
    proof_days: int = 1095
    purpose_version: int = 1

    @property
    def controller(self) -> str:
        return self.controller_name or self.name


ACCOUNT_SETTINGS = (
    "controller_name",
    "controller_address",
    "contact_email",
    "dpo_contact",
    "privacy_url",
    "consent_validity_days",
    "retention_days",
    "proof_days",
)
_ACCOUNT = "SELECT id, name, created_at, " + ", ".join(ACCOUNT_SETTINGS) + ", purpose_version"


def _account(row: asyncpg.Record) -> Account:
    return Account(**dict(row))


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    account_id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Link:
    campaign_id: int
    link_no: int
    url: str
    honeypot: bool = False


@dataclass(frozen=True, slots=True)
class Recipient:
    id: int
    account_id: int
    email_ciphertext: bytes | None
    wrapped_key: bytes | None


@dataclass(frozen=True, slots=True)
class EventRow:
    """One per-recipient event, as the recorder hands it over."""

    id: uuid.UUID
    campaign_id: int
    recipient_id: int
    link_no: int
    at: datetime
    verdict: str
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class RecipientEvent:
    campaign_id: int
    link_no: int
    url: str | None
    at: datetime
    verdict: str
    reasons: list[str]


async def insert_account(conn: Connection, account_id: int, name: str) -> Account:
    await conn.execute("INSERT INTO accounts (id, name) VALUES ($1, $2)", account_id, name)
    account = await fetch_account(conn, account_id)
    assert account is not None
    return account


async def fetch_account(conn: Connection, account_id: int) -> Account | None:
    row = await conn.fetchrow(_ACCOUNT + " FROM accounts WHERE id = $1", account_id)
    return _account(row) if row else None


async def update_account_settings(
    conn: Connection, account_id: int, changes: dict[str, object]
) -> None:
    """Set the named settings; names are checked against ACCOUNT_SETTINGS, never input."""
    for name, value in changes.items():
        if name not in ACCOUNT_SETTINGS:
            raise ValueError(f"{name} is not an account setting")
        await conn.execute(f"UPDATE accounts SET {name} = $2 WHERE id = $1", account_id, value)  # noqa: S608


async def advance_purpose(conn: Connection, account_id: int) -> int:
    """A new purpose: grants given for the previous one stop counting, in every process."""
    version = await conn.fetchval(
        "UPDATE accounts SET purpose_version = purpose_version + 1 WHERE id = $1"
        " RETURNING purpose_version",
        account_id,
    )
    await conn.execute("SELECT pg_notify('consent_changed', '*')")
    return int(version)


async def insert_api_token(
    conn: Connection, token_hash: bytes, account_id: int, scope: str
) -> None:
    await conn.execute(
        "INSERT INTO api_tokens (token_hash, account_id, scope) VALUES ($1, $2, $3)",
        token_hash,
        account_id,
        scope,
    )


async def fetch_token(conn: Connection, token_hash: bytes) -> tuple[int, str] | None:
    row = await conn.fetchrow(
        "SELECT account_id, scope FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        token_hash,
    )
    return (row["account_id"], row["scope"]) if row else None


async def insert_campaign(
    conn: Connection, campaign_id: int, account_id: int, name: str
) -> Campaign:
    row = await conn.fetchrow(
        "INSERT INTO campaigns (id, account_id, name) VALUES ($1, $2, $3)"
        " RETURNING id, account_id, name, created_at",
        campaign_id,
        account_id,
        name,
    )
    assert row is not None
    return Campaign(row["id"], row["account_id"], row["name"], row["created_at"])


async def fetch_campaign(conn: Connection, campaign_id: int) -> Campaign | None:
    row = await conn.fetchrow(
        "SELECT id, account_id, name, created_at FROM campaigns WHERE id = $1", campaign_id
    )
    return Campaign(row["id"], row["account_id"], row["name"], row["created_at"]) if row else None


async def fetch_recent_campaign_ids(conn: Connection, limit: int) -> list[int]:
    rows = await conn.fetch("SELECT id FROM campaigns ORDER BY created_at DESC LIMIT $1", limit)
    return [row["id"] for row in rows]


async def insert_links(conn: Connection, campaign_id: int, urls: Sequence[str]) -> dict[str, int]:
    """Register targets (numbered 1, 2, ... in order of first registration); idempotent.

    Locks the campaign row so that concurrent registrations number links without gaps
    or clashes. Returns every given URL with its link number.
    """
    await conn.execute("SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE", campaign_id)
    await conn.execute(
        "INSERT INTO links (campaign_id, link_no, url)"
        " SELECT $1, coalesce((SELECT max(link_no) FROM links WHERE campaign_id = $1), 0)"
        "            + row_number() OVER (ORDER BY first_seen), url"
        " FROM (SELECT url, min(ordinality) AS first_seen"
        "       FROM unnest($2::text[]) WITH ORDINALITY AS given(url, ordinality)"
        "       WHERE NOT EXISTS (SELECT 1 FROM links l"
        "                         WHERE l.campaign_id = $1 AND l.url = given.url)"
        "       GROUP BY url) AS fresh",
        campaign_id,
        list(urls),
    )
    rows = await conn.fetch(
        "SELECT url, link_no FROM links WHERE campaign_id = $1 AND url = ANY($2::text[])",
        campaign_id,
        list(urls),
    )
    return {row["url"]: row["link_no"] for row in rows}


async def fetch_links(
    conn: Connection, campaign_id: int, *, include_honeypot: bool = False
) -> list[Link]:
    """A campaign's links in number order; the honeypot only when asked for."""
    rows = await conn.fetch(
        "SELECT campaign_id, link_no, url, honeypot FROM links"
        " WHERE campaign_id = $1 AND (NOT honeypot OR $2) ORDER BY link_no",
        campaign_id,
        include_honeypot,
    )
    return [Link(**dict(row)) for row in rows]


async def ensure_honeypot_link(conn: Connection, campaign_id: int, url: str) -> int:
    """The campaign's honeypot link number, registering it on first use."""
    existing = await conn.fetchval(
        "SELECT link_no FROM links WHERE campaign_id = $1 AND honeypot", campaign_id
    )
    if existing is not None:
        return int(existing)
    await conn.execute("SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE", campaign_id)
    link_no = await conn.fetchval(
        "INSERT INTO links (campaign_id, link_no, url, honeypot)"
        " SELECT $1, coalesce(max(link_no), 0) + 1, $2, true FROM links WHERE campaign_id = $1"
        " ON CONFLICT DO NOTHING RETURNING link_no",
        campaign_id,
        url,
    )
    if link_no is None:  # registered meanwhile by another transaction
        link_no = await conn.fetchval(
            "SELECT link_no FROM links WHERE campaign_id = $1 AND honeypot", campaign_id
        )
    return int(link_no)


async def fetch_links_of_campaigns(conn: Connection, campaign_ids: Sequence[int]) -> list[Link]:
    rows = await conn.fetch(
        "SELECT campaign_id, link_no, url, honeypot FROM links"
        " WHERE campaign_id = ANY($1::bigint[])",
        list(campaign_ids),
    )
    return [Link(**dict(row)) for row in rows]


async def insert_recipient(
    conn: Connection,
    recipient_id: int,
    account_id: int,
    email_index: bytes,
    ciphertext: bytes,
    wrapped_key: bytes,
) -> bool:
    """Insert a recipient; False if the account already has one with that address."""
    inserted = await conn.fetchval(
        "INSERT INTO recipients (id, account_id, email_index, email_ciphertext)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, email_index) DO NOTHING"
        " RETURNING true",
        recipient_id,
        account_id,
        email_index,
        ciphertext,
    )
    if inserted:
        await conn.execute(
            "INSERT INTO recipient_keys (recipient_id, wrapped_key) VALUES ($1, $2)",
            recipient_id,
            wrapped_key,
        )
    return bool(inserted)


_RECIPIENT = (
    "SELECT r.id, r.account_id, r.email_ciphertext, k.wrapped_key"
    " FROM recipients r LEFT JOIN recipient_keys k ON k.recipient_id = r.id"
)


async def fetch_recipient_by_index(
    conn: Connection, account_id: int, email_index: bytes
) -> Recipient | None:
    row = await conn.fetchrow(
        _RECIPIENT + " WHERE r.account_id = $1 AND r.email_index = $2", account_id, email_index
    )
    return _recipient(row) if row else None


async def fetch_recipient(conn: Connection, recipient_id: int) -> Recipient | None:
    row = await conn.fetchrow(_RECIPIENT + " WHERE r.id = $1", recipient_id)
    return _recipient(row) if row else None


def _recipient(row: asyncpg.Record) -> Recipient:
    return Recipient(row["id"], row["account_id"], row["email_ciphertext"], row["wrapped_key"])


async def record_group(
    conn: Connection,
    group_id: uuid.UUID,
    events: Sequence[EventRow],
    increments: Mapping[CounterKey, int],
    decrements: Mapping[CounterKey, int],
    ranks: Mapping[RegisterKey, int],
    machine_events: Mapping[tuple[uuid.UUID, datetime], str],
    hold_seconds: float,
) -> bool:
    """Commit one group in one round trip (``record_group`` in sql/0007): the events whose
    recipient's consent was granted at the event's time, their webhook deliveries, the
    counters, the HyperLogLog registers and the corrections. False, and nothing written,
    for a group id committed before."""
    registers = sorted(ranks)
    marks = list(machine_events)
    return bool(
        await conn.fetchval(
            "SELECT record_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
            " $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)",
            group_id,
            [e.id for e in events],
            [e.campaign_id for e in events],
            [e.recipient_id for e in events],
            [e.link_no for e in events],
            [e.at for e in events],
            [e.verdict for e in events],
            [",".join(e.reasons) for e in events],
            hold_seconds,
            *_counter_arrays(increments),
            *_counter_arrays(decrements),
            [k.campaign_id for k in registers],
            [k.sketch for k in registers],
            [k.register for k in registers],
            [ranks[k] for k in registers],
            [key[0] for key in marks],
            [key[1] for key in marks],
            [machine_events[key] for key in marks],
        )
    )


def _counter_arrays(counts: Mapping[CounterKey, int]) -> list[list[Any]]:
    """Sorted, so that concurrent groups lock counter rows in the same order."""
    keys = sorted(counts)
    return [
        [k.campaign_id for k in keys],
        [k.link_no for k in keys],
        [k.hour for k in keys],
        [k.verdict for k in keys],
        [counts[k] for k in keys],
    ]


async def fetch_recipient_events(conn: Connection, recipient_id: int) -> list[RecipientEvent]:
    rows = await conn.fetch(
        "SELECT e.campaign_id, e.link_no, l.url, e.at, e.verdict, e.reasons FROM events e"
        " LEFT JOIN links l ON l.campaign_id = e.campaign_id AND l.link_no = e.link_no"
        " WHERE e.recipient_id = $1 ORDER BY e.at, e.id",
        recipient_id,
    )
    return [
        RecipientEvent(
            row["campaign_id"],
            row["link_no"],
            row["url"],
            row["at"],
            row["verdict"],
            list(row["reasons"]),
        )
        for row in rows
    ]


async def delete_recipient_events(conn: Connection, recipient_id: int) -> int:
    status = await conn.execute("DELETE FROM events WHERE recipient_id = $1", recipient_id)
    return int(status.split()[-1])


async def shred_recipient(conn: Connection, recipient_id: int) -> None:
    """Destroy the data key and the address; the opaque id stays for the ledger."""
    await conn.execute("DELETE FROM recipient_keys WHERE recipient_id = $1", recipient_id)
    await conn.execute(
        "UPDATE recipients SET email_index = NULL, email_ciphertext = NULL WHERE id = $1",
        recipient_id,
    )


async def delete_unreferenced_recipients(conn: Connection, recipient_ids: Sequence[int]) -> int:
    """Remove recipients that no ledger row or event refers to any more."""
    status = await conn.execute(
        "DELETE FROM recipients r WHERE r.id = ANY($1::bigint[])"
        " AND NOT EXISTS (SELECT 1 FROM consent_ledger l WHERE l.recipient_id = r.id)"
        " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.recipient_id = r.id)",
        list(recipient_ids),
    )
    return int(status.split()[-1])


@dataclass(frozen=True, slots=True)
class EventPartition:
    name: str
    starts: datetime
    ends: datetime


async def ensure_event_partitions(conn: Connection, now: datetime, months_ahead: int) -> None:
    await conn.execute(
        "SELECT ensure_events_partition(month::date) FROM generate_series("
        " date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC'),"
        " date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC') + make_interval(months => $2),"
        " interval '1 month') AS month",
        now,
        months_ahead,
    )


async def fetch_event_partitions(conn: Connection) -> list[EventPartition]:
    rows = await conn.fetch(
        "SELECT name, bounds[1]::timestamptz AS starts, bounds[2]::timestamptz AS ends FROM ("
        "  SELECT c.relname AS name, regexp_match(pg_get_expr(c.relpartbound, c.oid),"
        "         'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') AS bounds"
        "  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        "  WHERE i.inhparent = 'events'::regclass) AS p"
        " WHERE bounds IS NOT NULL ORDER BY starts"
    )
    return [EventPartition(row["name"], row["starts"], row["ends"]) for row in rows]


async def drop_event_partition(conn: Connection, partition: EventPartition) -> None:
    # The name comes from pg_class, never from input.
    await conn.execute(f'DROP TABLE "{partition.name}"')


async def delete_events_past_retention(conn: Connection, now: datetime) -> int:
    status = await conn.execute(
        "DELETE FROM events e USING campaigns c, accounts a"
        " WHERE c.id = e.campaign_id AND a.id = c.account_id"
        "   AND e.at < $1::timestamptz - make_interval(days => a.retention_days)",
        now,
    )
    return int(status.split()[-1])


async def fetch_longest_retention_days(conn: Connection) -> int:
    value = await conn.fetchval("SELECT max(retention_days) FROM accounts")
    return int(value) if value is not None else 180


async def delete_recorded_groups_before(conn: Connection, before: datetime) -> None:
    await conn.execute("DELETE FROM recorded_groups WHERE committed_hour < $1", before)


async def fetch_proof_periods(conn: Connection) -> list[tuple[int, int]]:
    """(account id, proof period in days) of every account."""
    rows = await conn.fetch("SELECT id, proof_days FROM accounts ORDER BY id")
    return [(row["id"], row["proof_days"]) for row in rows]


async def fetch_campaigns_page(
    conn: Connection, account_id: int, before: int | None, limit: int
) -> list[Campaign]:
    """An account's campaigns, newest first, in pages keyed by the last id seen."""
    rows = await conn.fetch(
        "SELECT id, account_id, name, created_at FROM campaigns WHERE account_id = $1"
        " AND ($2::bigint IS NULL OR (created_at, id) < ("
        "     SELECT created_at, id FROM campaigns WHERE id = $2))"
        " ORDER BY created_at DESC, id DESC LIMIT $3",
        account_id,
        before,
        limit,
    )
    return [Campaign(**dict(row)) for row in rows]
