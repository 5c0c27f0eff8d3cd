"""Applies the numbered plain-SQL migrations in ``sql/``.

Each file ``NNNN_name.sql`` runs once, in its own transaction, under an advisory lock so
that two processes never migrate at once, and is recorded with its SHA-256. A file that was
changed after it was applied is refused: fix forward with a new file instead.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

import tracker
from tracker.database import Connection
from tracker.errors import MigrationError

__all__ = ["Migration", "apply_migrations", "default_sql_dir", "find_migrations", "pending"]

_LOCK_KEY = 0x7472_6163_6B00  # "track", arbitrary but fixed
_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str


def default_sql_dir() -> Path:
    source_tree = Path(tracker.__file__).resolve().parent.parent / "sql"
    return source_tree if source_tree.is_dir() else Path(tracker.__file__).parent / "_sql"


def find_migrations(sql_dir: Path) -> list[Migration]:
    migrations = []
    for path in sorted(sql_dir.glob("*.sql")):
        match = _NAME.fullmatch(path.name)
        if not match:
            raise MigrationError(f"{path} is not named like 0001_description.sql")
        data = path.read_bytes()
        migrations.append(
            Migration(int(match[1]), path.name, data.decode(), hashlib.sha256(data).hexdigest())
        )
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations in {sql_dir} share a number")
    return migrations


async def pending(conn: Connection, sql_dir: Path) -> list[Migration]:
    """Migrations not yet applied; raises MigrationError if an applied one was changed."""
    await _ensure_table(conn)
    rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
    applied = {row["version"]: row for row in rows}
    available = find_migrations(sql_dir)
    for migration in available:
        row = applied.get(migration.version)
        if row is not None and row["checksum"] != migration.checksum:
            raise MigrationError(
                f"migration {migration.name} was changed after it was applied; "
                "restore the file and put the change in a new migration"
            )
    unknown = sorted(applied.keys() - {m.version for m in available})
    if unknown:
        names = ", ".join(applied[version]["name"] for version in unknown)
        raise MigrationError(f"the database has migrations this code does not know: {names}")
    return [m for m in available if m.version not in applied]


async def apply_migrations(conn: Connection, sql_dir: Path) -> list[str]:
    """Apply every pending migration; returns the names of those applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        applied = []
        for migration in await pending(conn, sql_dir):
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
            applied.append(migration.name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def _ensure_table(conn: Connection) -> None:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
