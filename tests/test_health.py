"""Liveness and readiness."""

import asyncpg
import httpx


async def test_healthz_and_readyz_answer_on_a_migrated_database(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_readyz_is_503_while_a_migration_is_pending(
    conn: asyncpg.Connection, client: httpx.AsyncClient
) -> None:
    await conn.execute("DELETE FROM schema_migrations")
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert "pending migrations: 0001_core.sql" in ready.json()["reason"]
