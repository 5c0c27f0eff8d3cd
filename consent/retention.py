"""Retention: per-recipient events and consent proof are removed when their time is up.

Events are partitioned by month: a month that every account's retention has passed is
dropped whole, which costs the same for ten rows as for ten million. Within the months
still kept, rows past a shorter account retention are deleted. Consent proof goes when the
person's last decision (a withdrawal, expiry, refusal or erasure) is older than the
account's proof period; the chain keeps those rows' hashes.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from consent import audit
from consent import db as consent_db
from tracker import db, webhooks_db
from tracker.database import Connection

__all__ = ["PurgeResult", "purge"]


@dataclass
class PurgeResult:
    dropped_partitions: list[str] = field(default_factory=list)
    events_deleted: int = 0
    ledger_rows_purged: int = 0
    recipients_forgotten: int = 0


async def purge(conn: Connection, now: datetime, actor: str) -> PurgeResult:
    result = PurgeResult()
    await db.ensure_event_partitions(conn, now, months_ahead=2)
    longest = timedelta(days=await db.fetch_longest_retention_days(conn))
    for partition in await db.fetch_event_partitions(conn):
        if partition.ends <= now - longest:
            await db.drop_event_partition(conn, partition)
            result.dropped_partitions.append(partition.name)
    result.events_deleted = await db.delete_events_past_retention(conn, now)
    # Webhook deliveries live no longer than the events they were for (replay reaches back
    # as far as that).
    await webhooks_db.delete_finished_before(conn, now - longest)
    for account_id, proof_days in await db.fetch_proof_periods(conn):
        async with conn.transaction():
            expired = await consent_db.fetch_recipients_past_proof(
                conn, account_id, now - timedelta(days=proof_days)
            )
            purged = forgotten = 0
            if expired:
                purged = await consent_db.purge_ledger_rows(conn, account_id, expired)
                for recipient_id in expired:
                    await consent_db.delete_state(conn, recipient_id)
                forgotten = await db.delete_unreferenced_recipients(conn, expired)
            await audit.record(
                conn,
                account_id,
                actor,
                "purge",
                ledger_rows_purged=purged,
                recipients_forgotten=forgotten,
                partitions_dropped=result.dropped_partitions,
            )
        result.ledger_rows_purged += purged
        result.recipients_forgotten += forgotten
    await db.delete_recorded_groups_before(conn, now - timedelta(days=7))
    return result
