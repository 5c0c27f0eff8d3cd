"""Data-subject rights: access (Art. 15) and erasure (Art. 17) for one recipient."""

from datetime import UTC, datetime
from typing import Any

from consent import audit, ledger
from consent import db as consent_db
from tracker import db
from tracker.database import Connection
from tracker.errors import NotFound
from tracker.ids import format_id
from tracker.recipients import RecipientDirectory

__all__ = ["COUNTERS_EXPLANATION", "access", "erase", "render_access_letter"]

COUNTERS_EXPLANATION = (
    "Besides the data above, the server keeps anonymous campaign figures for all recipients "
    "together: counts of opens and clicks per campaign, link and hour, split into human, "
    "proxy and machine, and HyperLogLog sketches for estimating unique readers. They hold "
    "no identifier, address, user agent or exact time, so nothing in them can be told "
    "apart as yours, and they cannot be given out or erased per person."
)


async def _recipient(
    conn: Connection, directory: RecipientDirectory, account: db.Account, email: str
) -> int:
    recipient_id = await directory.find(conn, account.id, email)
    if recipient_id is None:
        raise NotFound(f"account {format_id('acc', account.id)} holds nothing about {email}")
    return recipient_id


async def access(
    conn: Connection, directory: RecipientDirectory, account: db.Account, email: str, actor: str
) -> dict[str, Any]:
    """Everything held about one person, as JSON-ready data."""
    recipient_id = await _recipient(conn, directory, account, email)
    rows = await consent_db.fetch_ledger_of_recipient(conn, recipient_id)
    events = await db.fetch_recipient_events(conn, recipient_id)
    status = await ledger.current_status(conn, recipient_id, datetime.now(UTC))
    await audit.record(conn, account.id, actor, "access", recipient=recipient_id)
    return {
        "recipient": email,
        "controller": account.controller,
        "consent_state": status.state,
        "consent": [
            {
                "id": r.id,
                "action": r.action,
                "text_version": r.text_version,
                "text_sha256": r.text_sha256.hex() if r.text_sha256 else None,
                "lang": r.lang,
                "at": r.at.isoformat(),
                "method": r.method,
                "evidence": r.evidence,
            }
            for r in rows
        ],
        "events": [
            {
                "campaign": format_id("cmp", e.campaign_id),
                "kind": "open" if e.link_no == 0 else "click",
                "link": e.url,
                "at": e.at.isoformat(),
                "verdict": e.verdict,
                "reasons": e.reasons,
            }
            for e in events
        ],
        "stored": {
            "e_mail_address": "encrypted with a key of its own (AES-GCM)",
            "events_kept_days": account.retention_days,
            "consent_proof_kept_days_after_withdrawal": account.proof_days,
        },
        "anonymous_counters": COUNTERS_EXPLANATION,
    }


async def erase(
    conn: Connection, directory: RecipientDirectory, account: db.Account, email: str, actor: str
) -> dict[str, Any]:
    """Erase one person: events deleted, key and address destroyed, ledger says "erased".

    The anonymous counters stay: they never held anything about the person.
    """
    async with conn.transaction():
        recipient_id = await _recipient(conn, directory, account, email)
        deleted = await db.delete_recipient_events(conn, recipient_id)
        await consent_db.delete_state(conn, recipient_id)
        await db.shred_recipient(conn, recipient_id)
        await consent_db.insert_ledger_row(
            conn,
            account_id=account.id,
            recipient_id=recipient_id,
            action="erased",
            at=datetime.now(UTC),
            method="operator",
            evidence={"request": "Art. 17 GDPR", "by": actor, "events_deleted": deleted},
        )
        await audit.record(
            conn, account.id, actor, "erase", recipient=recipient_id, events_deleted=deleted
        )
    return {"erased": True, "events_deleted": deleted, "key_destroyed": True}


def render_access_letter(data: dict[str, Any]) -> str:
    """A readable, letter-ready Markdown version of an access answer."""
    lines = [
        f"# Information about the data held on {data['recipient']}",
        "",
        f"Controller: {data['controller']}. Answer to a request under Art. 15 GDPR, "
        f"prepared on {datetime.now(UTC):%Y-%m-%d}.",
        "",
        f"**Consent to open and click tracking:** {data['consent_state']}.",
        "",
        "## Consent history",
        "",
    ]
    if data["consent"]:
        lines += ["| when (UTC) | what | how | text version |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {r['at'][:19].replace('T', ' ')} | {r['action']} | {r['method']} |"
            f" {r['text_version'] or '-'} |"
            for r in data["consent"]
        ]
    else:
        lines.append("No consent decision is recorded.")
    lines += ["", "## Recorded opens and clicks", ""]
    if data["events"]:
        lines += ["| when (UTC) | what | link | judged as |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {e['at'][:19].replace('T', ' ')} | {e['kind']} | {e['link'] or '-'} |"
            f" {e['verdict']} |"
            for e in data["events"]
        ]
    else:
        lines.append("None: opens and clicks are recorded per person only with consent.")
    stored = data["stored"]
    lines += [
        "",
        "## How long it is kept",
        "",
        f"Opens and clicks: {stored['events_kept_days']} days. Proof of consent decisions: "
        f"{stored['consent_proof_kept_days_after_withdrawal']} days after a withdrawal. "
        "Your e-mail address is stored only encrypted.",
        "",
        "## Anonymous figures",
        "",
        data["anonymous_counters"],
        "",
    ]
    return "\n".join(lines)
