"""The DPO audit log: every export, access, erasure and purge, and every dpo-token use."""

import getpass
from typing import Any

from consent import db
from tracker.database import Connection

__all__ = ["cli_actor", "list_audit", "record"]


def cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


async def record(conn: Connection, account_id: int, actor: str, action: str, **detail: Any) -> None:
    await db.insert_audit(conn, account_id, actor, action, detail)


async def list_audit(conn: Connection, account_id: int, limit: int = 1000) -> list[db.AuditRow]:
    return await db.fetch_audit(conn, account_id, limit)
