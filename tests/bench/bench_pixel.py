"""Pixel and redirect speed against two reference apps, on one uvicorn worker each.

Starts a private PostgreSQL, our server (``tracker serve``) and the two reference apps of
``reference_apps`` (a bare Starlette app that returns the GIF and records nothing; one that
does an INSERT per request), all on one worker with the same uvicorn options, and measures
them in alternating rounds so that the figures share the same minutes of a shared machine.
The load client is a process of its own (``load_client``). Then our redirect rate, our p99
latency at half our maximum pixel rate, and our worker's memory after each round. Last, it
checks that every answered request was counted: the campaign's counters hold exactly as
many opens and clicks as the client was answered.

    .venv/bin/python -m tests.bench.bench_pixel [--seconds 8] [--rounds 3] [--connections 128]
        [--profile out.svg]

The client keeps 128 connections busy by default (closed loop: each sends its next request
when answered). A maximum rate needs the server saturated: a request to us waits for its
group commit, so with few connections the client runs out of requests to send while our
worker still has CPU to spare (with 32, the machine's cores are about two thirds busy and
our worker under 90 % of one). The bare app is saturated either way.

The bar (SPEC 7): pixel rate >= 0.75 of the bare app and >= 2 times the INSERT app, p99
under 25 ms at half the maximum rate.
"""

import argparse
import asyncio
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from tests.conftest import TEST_ENV
from tests.factories import grant, make_campaign, path_of
from tracker.database import start_embedded
from tracker.migrations import apply_migrations, default_sql_dir
from tracker.minting import mint
from tracker.runtime import Runtime
from tracker.settings import Settings

RECIPIENTS = 2_000
CONSENTING_SHARE = 10  # one recipient in ten has granted consent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(command: list[str], env: dict[str, str], log: Path) -> Iterator[tuple[int, int]]:
    """Start a server process; yields (port, pid) once it accepts connections."""
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, *command, str(port)],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command} did not start:\n{log.read_text()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            time.sleep(1.0)  # let the lifespan finish (caches preloaded, pools open)
            yield port, process.pid
        finally:
            process.terminate()
            process.wait(30)


@contextmanager
def profiling(pid: int, output: Path) -> Iterator[None]:
    """py-spy samples the process meanwhile: a flame graph for .svg, else collapsed stacks."""
    spy = Path(sys.executable).parent / "py-spy"
    style = "flamegraph" if output.suffix == ".svg" else "raw"
    command = [str(spy), "record", "-o", str(output), "-f", style, "-p", str(pid), "-r", "500"]
    profiler = subprocess.Popen(
        [*command, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        profiler.send_signal(signal.SIGINT)
        profiler.wait()


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(path.stem + suffix + path.suffix)


def load(
    port: int, paths: Path, seconds: float, connections: int, rate: float = 0.0
) -> dict[str, float]:
    output = subprocess.run(
        [
            sys.executable,
            *("-m", "tests.bench.load_client", "--port", str(port), "--paths", str(paths)),
            *("--seconds", str(seconds), "--rate", str(rate), "--connections", str(connections)),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(output)
    if result["errors"]:
        raise RuntimeError(f"{result['errors']} wrong answers: {result}")
    return result


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process (the benchmark's private server is the only one)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        if "(postgres)" in text:
            total += cpu_seconds(int(stat.parent.name))
    return total


def children_cpu_seconds() -> float:
    """CPU time of the child processes that ended so far (the load clients)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def busy_cores() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK"), sum(ticks) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def prepare(dsn: str, runtime: Runtime, folder: Path) -> tuple[Path, Path, int]:
    """Pixel and link paths of RECIPIENTS recipients, a tenth of them consenting."""
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn, default_sql_dir())
        scenario = await make_campaign(conn)
        for n in range(0, RECIPIENTS, CONSENTING_SHARE):
            await grant(conn, runtime, scenario, f"r{n}@example.org")
        now = datetime.now(UTC)
        pixels: list[str] = []
        links: list[str] = []
        async with conn.transaction():
            for n in range(RECIPIENTS):
                urls = await mint(
                    conn, runtime, campaign=scenario.campaign, email=f"r{n}@example.org", now=now
                )
                pixels.append(path_of(urls.pixel))
                links.extend(path_of(url) for url in urls.links.values())
        (folder / "pixels.txt").write_text("\n".join(pixels))
        (folder / "links.txt").write_text("\n".join(links))
        return folder / "pixels.txt", folder / "links.txt", scenario.campaign.id
    finally:
        await conn.close()


def scrape(port: int) -> dict[str, float]:
    """Our server's /metrics, as {sample with labels: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        lines = answer.read().decode().splitlines()
    return {
        name: float(value)
        for name, value in (line.rsplit(" ", 1) for line in lines if line[:1] != "#")
    }


def group_commits(samples: dict[str, float]) -> tuple[float, float, float]:
    """How many groups, mean hits per group, mean ms per commit."""
    groups = samples["tracker_group_size_count"]
    hits, seconds = samples["tracker_group_size_sum"], samples["tracker_commit_seconds_sum"]
    return groups, hits / max(groups, 1), seconds / max(groups, 1) * 1000


def gc_pauses(before: dict[str, float], after: dict[str, float]) -> list[tuple[float, float]]:
    """Between two scrapes, per generation: garbage collector pauses and their seconds."""

    def grown(name: str, generation: int) -> float:
        key = f'tracker_gc_pause_seconds_{name}{{generation="{generation}"}}'
        return after[key] - before[key]

    return [(grown("count", g), grown("sum", g)) for g in range(3)]


async def counted(dsn: str, campaign: int) -> tuple[int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT coalesce(sum(events) FILTER (WHERE link_no = 0), 0) AS opens,"
            " coalesce(sum(events) FILTER (WHERE link_no > 0), 0) AS clicks"
            " FROM counters WHERE campaign_id = $1",
            campaign,
        )
        assert row is not None
        return int(row["opens"]), int(row["clicks"])
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=128, help="of the load client")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy profiles at full load, of our server here and of the bare app beside it"
        " (NAME-bare.svg): .svg flame graphs, else collapsed stacks",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name, ExitStack() as stack:
        folder = Path(name)
        server = start_embedded(folder / "pg")
        stack.callback(server.cleanup)
        dsn = server.get_uri()
        env = {
            **TEST_ENV,
            "DATABASE_URL": dsn,
            "TRACKER_DATA_DIR": str(folder / "data"),
            "TRACKER_TRUSTED_PROXIES": "127.0.0.1/32",
        }
        runtime = Runtime.from_settings(Settings.from_environ(env))
        pixels, links, campaign = asyncio.run(prepare(dsn, runtime, folder))
        apps = {
            "bare Starlette": ["-m", "tests.bench.reference_apps", "bare"],
            "ours": ["-m", "tracker.cli", "serve", "--port"],
            "INSERT per request": ["-m", "tests.bench.reference_apps", "insert"],
        }
        ports = {
            label: stack.enter_context(serving(command, env, folder / f"{n}.log"))
            for n, (label, command) in enumerate(apps.items())
        }
        our_port, our_pid = ports["ours"]
        rates: dict[str, list[float]] = {label: [] for label in apps}
        cpu: dict[str, list[float]] = {label: [] for label in apps}
        others: dict[str, list[tuple[float, float, float]]] = {label: [] for label in apps}
        redirects: list[float] = []
        answered_opens = answered_clicks = 0
        print(f"one worker each, {args.rounds} rounds of {args.seconds:g} s per app", flush=True)
        for round_no in range(1, args.rounds + 1):
            for label, (port, pid) in ports.items():
                used, database, client = (
                    cpu_seconds(pid),
                    postgres_cpu_seconds(),
                    children_cpu_seconds(),
                )
                machine = busy_cores()
                result = load(port, pixels, args.seconds, args.connections)
                per_request = 1e6 / result["answered"]
                cpu[label].append((cpu_seconds(pid) - used) * per_request)
                busy, total = (now - then for now, then in zip(busy_cores(), machine, strict=True))
                others[label].append(
                    (
                        (postgres_cpu_seconds() - database) * per_request,
                        (children_cpu_seconds() - client) * per_request,
                        busy / total * 100,
                    )
                )
                rates[label].append(result["rate"])
                if label == "ours":
                    answered_opens += int(result["answered"])
            result = load(our_port, links, args.seconds, args.connections)
            redirects.append(result["rate"])
            answered_clicks += int(result["answered"])
            print(
                f"round {round_no}: "
                + ", ".join(f"{label} {values[-1]:,.0f}/s" for label, values in rates.items())
                + f", our redirects {redirects[-1]:,.0f}/s;"
                f" our worker's memory {rss_mib(our_pid):.0f} MiB",
                flush=True,
            )
        ours = statistics.median(rates["ours"])
        bare = statistics.median(rates["bare Starlette"])
        insert = statistics.median(rates["INSERT per request"])
        if args.profile:
            # Ours, then the bare app for comparison (its file named with "-bare").
            targets = {"ours": args.profile, "bare Starlette": _beside(args.profile, "-bare")}
            for label, output in targets.items():
                port, pid = ports[label]
                with profiling(pid, output):
                    answered = int(load(port, pixels, args.seconds, args.connections)["answered"])
                print(f"profiled {label}: {answered:,} requests answered", flush=True)
                if label == "ours":
                    answered_opens += answered
        before = scrape(our_port)
        half = load(our_port, pixels, args.seconds, args.connections, rate=ours / 2)
        pauses = gc_pauses(before, scrape(our_port))
        answered_opens += int(half["answered"])
        opens, clicks = asyncio.run(counted(dsn, campaign))
        print()
        print(f"pixel, requests/s (median of {args.rounds}):")
        print(f"  bare Starlette (GIF, records nothing): {bare:8,.0f}")
        print(f"  ours (classify, consent, group commit): {ours:7,.0f}")
        print(f"  INSERT per request:                    {insert:8,.0f}")
        print(f"  ours / bare:   {ours / bare:5.2f}   (bar: 0.75 or more)")
        print(f"  ours / INSERT: {ours / insert:5.2f}   (bar: 2 or more)")
        print(
            "server CPU per pixel request, µs: "
            + ", ".join(f"{label} {statistics.median(values):.0f}" for label, values in cpu.items())
        )
        print(
            "beside it, µs per pixel request: PostgreSQL, the load client; the machine's cores busy"
        )
        for label, figures in others.items():
            database, client, busy = (
                statistics.median(values) for values in zip(*figures, strict=True)
            )
            figures_text = f"PostgreSQL {database:4.0f}, client {client:4.0f}; {busy:3.0f} % busy"
            print(f"  {label + ':':<20} {figures_text}")
        print(f"redirect, ours: {statistics.median(redirects):,.0f} requests/s")
        print(
            f"at half our maximum ({ours / 2:,.0f}/s): p50 {half['p50_ms']:.1f} ms,"
            f" p99 {half['p99_ms']:.1f} ms (bar: p99 under 25 ms)"
        )
        print(
            "  meanwhile our worker's garbage collections (young, middle, full): "
            + ", ".join(f"{n:,.0f} in {seconds * 1000:,.0f} ms" for n, seconds in pauses)
        )
        print(f"our worker's memory at the end: {rss_mib(our_pid):.0f} MiB")
        groups, size, commit_ms = group_commits(scrape(our_port))
        print(f"our group commits: {groups:,.0f}, on average {size:.1f} hits in {commit_ms:.2f} ms")
        print(
            f"counted: {opens:,} opens for {answered_opens:,} answered pixel requests,"
            f" {clicks:,} clicks for {answered_clicks:,} answered redirects"
        )
        if (opens, clicks) != (answered_opens, answered_clicks):
            sys.exit("answered requests and counted events differ")


if __name__ == "__main__":
    main()
