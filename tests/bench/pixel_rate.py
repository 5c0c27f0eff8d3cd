"""Served pixels per second of one `tracker serve` worker, to set classification beside.

Starts a throwaway embedded PostgreSQL and one server on 127.0.0.1, mints pixel URLs for
many recipients, and fetches them with concurrent keep-alive connections (browser user
agents, distinct networks through a trusted loopback proxy) for a bounded time. Every
answer is checked; the figure is answered requests per second and its inverse.
"""

import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from tests.conftest import TEST_ENV
from tests.factories import make_campaign, path_of, person
from tests.servers import running_server
from tracker.database import start_embedded
from tracker.migrations import apply_migrations, default_sql_dir
from tracker.minting import mint
from tracker.runtime import Runtime
from tracker.settings import Settings

__all__ = ["measure_pixel_rate"]


async def _mint(dsn: str, runtime: Runtime, count: int) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn, default_sql_dir())
        scenario = await make_campaign(conn)
        now = datetime.now(UTC)
        async with conn.transaction():
            return [
                path_of(
                    (
                        await mint(
                            conn,
                            runtime,
                            campaign=scenario.campaign,
                            email=f"p{n}@example.org",
                            now=now,
                        )
                    ).pixel
                )
                for n in range(count)
            ]
    finally:
        await conn.close()


async def _load(base: str, pixels: list[str], seconds: float, connections: int) -> int:
    """Keep-alive HTTP/1.1 over raw sockets: a Python client cheap enough not to be the
    bottleneck (httpx was: it capped even a bare app at a few hundred requests a second)."""
    host, port = base.removeprefix("http://").split(":")
    deadline = time.monotonic() + seconds
    answered = 0

    async def worker(offset: int) -> None:
        nonlocal answered
        reader, writer = await asyncio.open_connection(host, int(port))
        n = offset
        try:
            while time.monotonic() < deadline:
                headers = person(n % 5000)
                writer.write(
                    f"GET {pixels[n % len(pixels)]} HTTP/1.1\r\nHost: {host}\r\n"
                    f"User-Agent: {headers['user-agent']}\r\n"
                    f"X-Forwarded-For: {headers['x-forwarded-for']}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                assert head.startswith(b"HTTP/1.1 200") and body[:6] == b"GIF89a"
                answered += 1
                n += connections
        finally:
            writer.close()

    await asyncio.gather(*(worker(i) for i in range(connections)))
    return answered


def measure_pixel_rate(seconds: float = 10.0, connections: int = 32) -> float:
    """Answered pixel requests per second."""
    with tempfile.TemporaryDirectory() as folder:
        server = start_embedded(Path(folder) / "pg")
        try:
            dsn = str(server.get_uri(database="postgres"))
            env = {
                **TEST_ENV,
                "DATABASE_URL": dsn,
                "TRACKER_DATA_DIR": f"{folder}/data",
                "TRACKER_TRUSTED_PROXIES": "127.0.0.1/32",
            }
            runtime = Runtime.from_settings(Settings.from_environ(env))
            pixels = asyncio.run(_mint(dsn, runtime, 2000))
            with running_server(env, Path(folder) / "server.log") as base:
                answered = asyncio.run(_load(base, pixels, seconds, connections))
        finally:
            server.cleanup()
    return answered / seconds


if __name__ == "__main__":
    rate = measure_pixel_rate(float(os.environ.get("SECONDS", "10")))
    print(f"pixel: {rate:,.0f} requests/s, {1e6 / rate:,.0f} µs per request")
