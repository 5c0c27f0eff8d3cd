"""Served pixels per second of one `tracker serve` worker, to set classification beside.

Starts a throwaway embedded PostgreSQL and one server on 127.0.0.1, mints pixel URLs for
many recipients, and fetches them with concurrent keep-alive connections (browser user
agents, distinct networks through a trusted loopback proxy) for a bounded time. Every
answer is checked; the figure is answered requests per second and its inverse.
"""

import asyncio
import os
import queue
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from tests.bench import load_client
from tests.conftest import TEST_ENV
from tests.factories import grant, make_campaign, path_of
from tests.servers import running_server
from tracker.database import start_embedded
from tracker.migrations import apply_migrations, default_sql_dir
from tracker.minting import mint
from tracker.runtime import Runtime
from tracker.settings import Settings
from tracker.webhooks import add_webhook

__all__ = ["PixelRun", "measure_pixel_rate"]


async def _mint(
    dsn: str, runtime: Runtime, count: int, consenting: bool, webhook: str | None
) -> list[str]:
    """Pixel URLs, of consenting recipients if asked; ``webhook`` gets every human open."""
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn, default_sql_dir())
        scenario = await make_campaign(conn)
        if webhook is not None:
            await add_webhook(conn, scenario.account_id, webhook, ["human"])
        if consenting:
            for n in range(count):
                await grant(conn, runtime, scenario, f"p{n}@example.org")
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


_received: list[int] = []  # one entry per webhook received (appended from the thread)


async def _receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A webhook receiver that takes everything (for the delivery comparison)."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            _received.append(1)
            writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _receiver_thread() -> str:
    """Run the receiver on its own loop in a thread; returns its URL."""
    started: queue.Queue[int] = queue.Queue()

    def serve() -> None:
        async def main() -> None:
            server = await asyncio.start_server(_receive, "127.0.0.1", 0)
            started.put(server.sockets[0].getsockname()[1])
            await server.serve_forever()

        asyncio.run(main())

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{started.get(timeout=5)}/hook"


@dataclass
class PixelRun:
    rate: float  # answered pixel requests per second
    server_cpu_us: float  # the server process's CPU time per answered request
    delivered: int  # webhooks the receiver got while the load ran


def measure_pixel_rate(
    seconds: float = 10.0,
    connections: int = 32,
    consenting: bool = False,
    webhooks: bool = False,
    separate_delivery: bool = False,
) -> PixelRun:
    """Pixel requests for ``seconds``, for consenting recipients or not; ``webhooks``: every
    human open also delivered to a local receiver while the load runs, by the server itself
    or (``separate_delivery``) by a `tracker webhook deliver` process."""
    with tempfile.TemporaryDirectory() as folder:
        server = start_embedded(Path(folder) / "pg")
        try:
            dsn = str(server.get_uri(database="postgres"))
            env = {
                **TEST_ENV,
                "DATABASE_URL": dsn,
                "TRACKER_DATA_DIR": f"{folder}/data",
                "TRACKER_TRUSTED_PROXIES": "127.0.0.1/32",
                "TRACKER_WEBHOOK_HOLD_SECONDS": "0",
                "TRACKER_WEBHOOK_DELIVERY": "off" if separate_delivery else "inline",
            }
            runtime = Runtime.from_settings(Settings.from_environ(env))
            hook = _receiver_thread() if webhooks else None
            _received.clear()
            pixels = asyncio.run(_mint(dsn, runtime, 2000, consenting, hook))
            deliverer = (
                subprocess.Popen(
                    [sys.executable, "-m", "tracker.cli", "webhook", "deliver"],
                    env={**os.environ, **env},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                if separate_delivery
                else None
            )
            try:
                pids: list[int] = []
                with running_server(env, Path(folder) / "server.log", pids) as base:
                    used = _cpu_seconds(pids[0])
                    port = int(base.rsplit(":", 1)[1])
                    result = asyncio.run(load_client.run(port, pixels, seconds, connections, 0))
                    if result["errors"]:
                        raise RuntimeError(f"{result['errors']} wrong answers")
                    answered = int(result["answered"])
                    cpu = _cpu_seconds(pids[0]) - used
                    delivered = len(_received)
            finally:
                if deliverer is not None:
                    deliverer.terminate()
                    deliverer.wait()
        finally:
            server.cleanup()
    return PixelRun(answered / seconds, cpu / answered * 1e6, delivered)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    run = measure_pixel_rate(float(os.environ.get("SECONDS", "10")))
    print(f"pixel: {run.rate:,.0f} requests/s, {run.server_cpu_us:,.0f} µs server CPU each")
