"""The DPO's commands: export-consents, access, erase, ropa, purge, verify-ledger, audit."""

import sys
from argparse import Namespace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from consent import audit
from consent.chain import verify_ledger
from consent.export import ExportProgress, export_chunks
from consent.retention import purge
from consent.ropa import build_ropa, render_ropa
from consent.subject import access, erase, render_access_letter
from tracker import accounts
from tracker.commands import Command, Output, with_database
from tracker.database import Connection
from tracker.db import Account
from tracker.errors import InvalidInput, TrackerError
from tracker.ids import parse_id
from tracker.runtime import Runtime

__all__ = ["DPO_COMMANDS", "LedgerBroken"]


class LedgerBroken(TrackerError):
    """verify-ledger found a changed, removed or reordered row."""


async def _account(conn: Connection, args: Namespace) -> Account:
    return await accounts.get_account(conn, parse_id("acc", args.account))


async def export_consents(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await _account(conn, args)
    target = _open_output(args.output)
    progress = ExportProgress()
    try:
        chunks = export_chunks(conn, runtime.directory.vault, account.id, args.format, progress)
        async for chunk in chunks:
            target.write(chunk)
            if progress.rows and progress.rows % 10_000 == 0 and chunk:
                print(f"exported {progress.rows} rows ...", file=sys.stderr, flush=True)
    finally:
        if target is not sys.stdout:
            target.close()
    await audit.record(
        conn,
        account.id,
        audit.cli_actor(),
        "export-consents",
        format=args.format,
        rows=progress.rows,
    )
    print(f"exported {progress.rows} ledger rows", file=sys.stderr)
    return Output(None, None)


async def access_request(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await _account(conn, args)
    data = await access(conn, runtime.directory, account, args.recipient, audit.cli_actor())
    return Output(data, render_access_letter(data))


async def erase_request(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await _account(conn, args)
    result = await erase(conn, runtime.directory, account, args.recipient, audit.cli_actor())
    return Output(
        result,
        f"erased: {result['events_deleted']} events deleted, the data key "
        "destroyed; the ledger keeps an 'erased' row without the address",
    )


async def ropa(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await _account(conn, args)
    record = build_ropa(account)
    await audit.record(conn, account.id, audit.cli_actor(), "ropa")
    if args.format == "json":
        return Output(record, None)
    return Output(record, render_ropa(record))


async def purge_expired(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    result = await purge(conn, datetime.now(UTC), audit.cli_actor())
    data = {
        "dropped_partitions": result.dropped_partitions,
        "events_deleted": result.events_deleted,
        "ledger_rows_purged": result.ledger_rows_purged,
        "recipients_forgotten": result.recipients_forgotten,
    }
    text = (
        f"dropped {len(result.dropped_partitions)} event partitions, deleted "
        f"{result.events_deleted} events, purged {result.ledger_rows_purged} ledger rows, "
        f"forgot {result.recipients_forgotten} recipients"
    )
    return Output(data, text)


async def verify(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await _account(conn, args)
    report = await verify_ledger(conn, account.id)
    await audit.record(conn, account.id, audit.cli_actor(), "verify-ledger", ok=report.ok)
    if not report.ok:
        raise LedgerBroken(
            f"ledger row {report.first_bad_seq} (id {report.first_bad_id}) fails: {report.problem}"
        )
    data = {"ok": True, "rows": report.rows, "purged": report.purged, "head": report.head.hex()}
    return Output(
        data,
        f"the ledger verifies: {report.rows} rows ({report.purged} purged), "
        f"head {report.head.hex()}",
    )


async def audit_log(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await _account(conn, args)
    rows = await audit.list_audit(conn, account.id, args.limit)
    data = [
        {"at": r.at.isoformat(), "actor": r.actor, "action": r.action, "detail": r.detail}
        for r in rows
    ]
    text = (
        "\n".join(
            f"{r.at:%Y-%m-%d %H:%M:%S}  {r.actor:<20} {r.action:<16} {r.detail}" for r in rows
        )
        or "nothing logged yet"
    )
    return Output(data, text)


def _open_output(path: str | None) -> TextIO:
    if not path:
        return sys.stdout
    try:
        return Path(path).open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from None


DPO_COMMANDS: dict[str, Command] = {
    "dpo export-consents": with_database(export_consents),
    "dpo access": with_database(access_request),
    "dpo erase": with_database(erase_request),
    "dpo ropa": with_database(ropa),
    "dpo purge": with_database(purge_expired),
    "dpo verify-ledger": with_database(verify),
    "dpo audit": with_database(audit_log),
}
