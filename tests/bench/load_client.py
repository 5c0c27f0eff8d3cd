"""A load client for the pixel benchmark, run as a process of its own.

Keep-alive HTTP/1.1 over raw asyncio sockets (httpx costs more per request than the servers
it measures). Closed loop (``--rate 0``): every connection sends its next request as soon as
the last one is answered, which finds the maximum rate. Open loop (``--rate R``): requests
are due at a fixed rate and latency counts from when each was due, so a stall is not hidden
by the requests it held back. Every answer is checked (status 200 or 302 and, for 200, a
GIF); prints one JSON line: answered, seconds, rate, p50_ms, p99_ms, errors.

    python -m tests.bench.load_client --port 8000 --paths paths.txt --seconds 10 [--rate 500]
"""

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from tests.factories import person

__all__ = ["main"]


async def run(
    port: int, paths: list[str], seconds: float, connections: int, rate: float
) -> dict[str, float]:
    start = time.monotonic()
    deadline = start + seconds
    latencies: list[float] = []
    errors = 0
    ticket = 0

    async def connection(offset: int) -> None:
        nonlocal errors, ticket
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        n = offset
        try:
            while True:
                if rate:
                    due = start + ticket / rate
                    ticket += 1
                    if due >= deadline:
                        return
                    if due > time.monotonic():
                        await asyncio.sleep(due - time.monotonic())
                else:
                    due = time.monotonic()
                    if due >= deadline:
                        return
                headers = person(n % 5000)
                writer.write(
                    f"GET {paths[n % len(paths)]} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"User-Agent: {headers['user-agent']}\r\n"
                    f"X-Forwarded-For: {headers['x-forwarded-for']}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                latencies.append(time.monotonic() - due)
                ok = head.startswith(b"HTTP/1.1 302") or (
                    head.startswith(b"HTTP/1.1 200") and body[:6] == b"GIF89a"
                )
                errors += not ok
                n += connections
        finally:
            writer.close()

    await asyncio.gather(*(connection(i) for i in range(connections)))
    elapsed = time.monotonic() - start
    ordered = sorted(latencies) or [0.0]
    return {
        "answered": len(latencies),
        "seconds": elapsed,
        "rate": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--paths", type=Path, required=True, help="a file of paths, one a line")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s; 0: as fast as it can")
    args = parser.parse_args()
    paths = args.paths.read_text().split()
    result = asyncio.run(run(args.port, paths, args.seconds, args.connections, args.rate))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
