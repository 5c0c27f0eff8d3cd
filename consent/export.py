"""Exporting an account's consent ledger with proof, streamed row by row (CSV or JSON).

Each row names the recipient by e-mail, or "erased" once their key is destroyed; gives the
action, the text version and the SHA-256 of the exact text shown (and, in JSON, the text),
the time, the method (page, operator, import, system) and the evidence.
"""

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from consent import db
from tracker.crypto import EmailVault, UnreadableEmail
from tracker.database import Connection

__all__ = ["CSV_FIELDS", "ExportProgress", "export_chunks", "ledger_rows"]

CSV_FIELDS = (
    "seq",
    "recipient",
    "action",
    "text_version",
    "text_sha256",
    "at",
    "method",
    "evidence",
    "lang",
    "row_hash",
)


async def ledger_rows(
    conn: Connection, vault: EmailVault, account_id: int
) -> AsyncIterator[dict[str, Any]]:
    """The ledger in chain order, read through a cursor (the caller holds a transaction)."""
    emails: dict[int, str] = {}
    async for record in conn.cursor(db.EXPORT_QUERY, account_id, prefetch=500):
        row = db.export_row(record)
        yield {
            "seq": row.seq,
            "recipient": _email(vault, row, emails),
            "action": row.action,
            "text_version": row.text_version,
            "text_sha256": row.text_sha256.hex() if row.text_sha256 else None,
            "text": row.text,
            "at": row.at.isoformat(),
            "method": row.method,
            "evidence": json.loads(row.evidence),
            "lang": row.lang,
            "row_hash": row.row_hash.hex(),
        }


def _email(vault: EmailVault, row: db.ExportRow, cache: dict[int, str]) -> str:
    if row.recipient_id is None:
        return "erased"
    if row.recipient_id not in cache:
        try:
            if row.email_ciphertext is None:
                raise UnreadableEmail("erased")
            cache[row.recipient_id] = vault.open(
                row.recipient_id, row.email_ciphertext, row.wrapped_key
            )
        except UnreadableEmail:
            cache[row.recipient_id] = "erased"
    return cache[row.recipient_id]


@dataclass
class ExportProgress:
    rows: int = 0


async def export_chunks(
    conn: Connection, vault: EmailVault, account_id: int, fmt: str, progress: ExportProgress
) -> AsyncIterator[str]:
    """The export piece by piece, from one consistent snapshot; counts rows in ``progress``."""
    async with conn.transaction(readonly=True, isolation="repeatable_read"):
        yield "[" if fmt == "json" else _csv_line(CSV_FIELDS)
        async for row in ledger_rows(conn, vault, account_id):
            if fmt == "json":
                separator = "\n" if progress.rows == 0 else ",\n"
                yield separator + json.dumps(row, ensure_ascii=False)
            else:
                row["evidence"] = json.dumps(row["evidence"], ensure_ascii=False, sort_keys=True)
                yield _csv_line(tuple("" if row[f] is None else row[f] for f in CSV_FIELDS))
            progress.rows += 1
        if fmt == "json":
            yield "\n]\n"


def _csv_line(values: tuple[Any, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
