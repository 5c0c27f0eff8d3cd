"""Migrations: a fresh run, a re-run that does nothing, a changed file refused."""

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tracker.errors import MigrationError
from tracker.migrations import apply_migrations, default_sql_dir, find_migrations, pending


@pytest.fixture
async def empty_conn(empty_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(empty_dsn)
    yield connection
    await connection.close()


async def test_fresh_database_gets_every_migration_then_nothing_more(
    empty_conn: asyncpg.Connection,
) -> None:
    names = [m.name for m in find_migrations(default_sql_dir())]
    assert await apply_migrations(empty_conn, default_sql_dir()) == names
    assert await apply_migrations(empty_conn, default_sql_dir()) == []
    tables = {
        row["tablename"]
        for row in await empty_conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname='public'"
        )
    }
    assert {"accounts", "recipients", "consent_ledger", "events", "counters"} <= tables
    recorded = await empty_conn.fetch("SELECT name, checksum FROM schema_migrations ORDER BY 1")
    assert [row["name"] for row in recorded] == names


async def test_changed_applied_migration_is_refused_by_name(
    empty_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(default_sql_dir(), sql_dir)
    await apply_migrations(empty_conn, sql_dir)
    first = sorted(sql_dir.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited afterwards\n")
    with pytest.raises(MigrationError, match=re.escape(first.name)):
        await apply_migrations(empty_conn, sql_dir)
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await pending(empty_conn, sql_dir)


async def test_new_migration_is_applied_alone_and_a_failing_one_leaves_no_trace(
    empty_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(default_sql_dir(), sql_dir)
    await apply_migrations(empty_conn, sql_dir)
    (sql_dir / "9998_add_note.sql").write_text("CREATE TABLE notes (id int);")
    (sql_dir / "9999_broken.sql").write_text("CREATE TABLE broken (id int); SELECT 1/0;")
    with pytest.raises(MigrationError, match=re.escape("9999_broken.sql failed")):
        await apply_migrations(empty_conn, sql_dir)
    assert await empty_conn.fetchval("SELECT to_regclass('notes') IS NOT NULL")
    assert await empty_conn.fetchval("SELECT to_regclass('broken') IS NULL")
    assert [m.name for m in await pending(empty_conn, sql_dir)] == ["9999_broken.sql"]


async def test_database_newer_than_the_code_is_refused(
    empty_conn: asyncpg.Connection, tmp_path: Path
) -> None:
    await apply_migrations(empty_conn, default_sql_dir())
    await empty_conn.execute(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (9000, '9000_x.sql', 'x')"
    )
    with pytest.raises(MigrationError, match=re.escape("9000_x.sql")):
        await pending(empty_conn, default_sql_dir())
