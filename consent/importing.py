"""Importing consents collected elsewhere (e.g. a double opt-in sign-up form).

Each row needs the address, the original time of the grant and its evidence; it becomes a
ledger row with method ``import`` and the original time, so every export marks it as
imported. A row older than the recipient's latest recorded decision is skipped: an import
never overrides a later withdrawal.
"""

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consent import db as consent_db
from consent import ledger
from tracker.crypto import normalize_email
from tracker.database import Connection
from tracker.db import Account
from tracker.errors import InvalidInput
from tracker.recipients import RecipientDirectory

__all__ = ["ImportResult", "ImportRow", "import_consents", "parse_rows", "row_from_mapping"]

_MAX_ROWS = 100_000


@dataclass(frozen=True)
class ImportRow:
    email: str
    granted_at: datetime
    evidence: dict[str, Any]


@dataclass(frozen=True)
class ImportResult:
    imported: int
    skipped: int


def row_from_mapping(item: Any, where: str) -> ImportRow:
    if not isinstance(item, dict):
        raise InvalidInput(f"{where}: expected an object with email, granted_at and evidence")
    try:
        email = normalize_email(str(item.get("email", "")))
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    raw_time = item.get("granted_at")
    try:
        granted_at = datetime.fromisoformat(str(raw_time))
    except ValueError:
        raise InvalidInput(f"{where}: granted_at {raw_time!r} is not an ISO 8601 time") from None
    if granted_at.tzinfo is None:
        raise InvalidInput(f"{where}: granted_at needs a time zone, e.g. 2026-05-01T10:00:00Z")
    if granted_at > datetime.now(UTC):
        raise InvalidInput(f"{where}: granted_at lies in the future")
    evidence = item.get("evidence")
    if isinstance(evidence, str):
        try:
            evidence = (
                json.loads(evidence)
                if evidence.strip().startswith("{")
                else {"description": evidence}
            )
        except ValueError:
            evidence = {"description": evidence}
    if not isinstance(evidence, dict) or not evidence:
        raise InvalidInput(f"{where}: evidence is missing (say how the consent was given)")
    return ImportRow(email, granted_at, evidence)


def parse_rows(text: str, fmt: str) -> list[ImportRow]:
    """Rows from CSV (header: email,granted_at,evidence) or JSON lines."""
    rows: list[ImportRow] = []
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        missing = {"email", "granted_at", "evidence"} - set(reader.fieldnames or [])
        if missing:
            raise InvalidInput(f"the CSV header lacks {', '.join(sorted(missing))}")
        for number, item in enumerate(reader, start=2):
            rows.append(row_from_mapping(item, f"line {number}"))
    elif fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                raise InvalidInput(f"line {number}: not valid JSON") from None
            rows.append(row_from_mapping(item, f"line {number}"))
    else:
        raise InvalidInput(f"format must be csv or jsonl, not {fmt!r}")
    if len(rows) > _MAX_ROWS:
        raise InvalidInput(f"at most {_MAX_ROWS} rows per import; split the file")
    return rows


async def import_consents(
    conn: Connection, directory: RecipientDirectory, account: Account, rows: list[ImportRow]
) -> ImportResult:
    imported = skipped = 0
    async with conn.transaction():
        for row in rows:
            recipient_id = await directory.find_or_create(conn, account.id, row.email)
            state = await consent_db.fetch_state(conn, recipient_id, for_update=True)
            if state is not None and state.changed_at >= row.granted_at:
                skipped += 1
                continue
            await ledger.grant(
                conn,
                account=account,
                recipient_id=recipient_id,
                method="import",
                at=row.granted_at,
                evidence={"imported": True, **row.evidence},
            )
            imported += 1
    return ImportResult(imported, skipped)
