"""What each CLI command does. Each returns an ``Output``: JSON data and a text rendering."""

import asyncio
import getpass
import os
import sys
from argparse import Namespace
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from aggregates.report import build_report, render_text
from consent import ledger
from tracker import accounts, campaigns, db, keyfiles
from tracker.classify import Classifier
from tracker.database import Connection, connection, database_url
from tracker.errors import MigrationError
from tracker.hotpath import MAX_HEAD_BYTES
from tracker.httpserver import guarded_protocol
from tracker.ids import format_id, parse_id
from tracker.ipranges import update_ranges
from tracker.logs import log_config
from tracker.migrations import apply_migrations, default_sql_dir, pending
from tracker.minting import mint
from tracker.requestlines import classify_lines
from tracker.runtime import Runtime
from tracker.settings import Settings

__all__ = ["COMMANDS", "Output", "server_options"]


@dataclass(frozen=True)
class Output:
    data: Any  # printed as JSON with --json; None: nothing to print
    text: str | None  # printed otherwise; None: print the data as JSON


Command = Callable[[Settings, Namespace], Output]
DbCommand = Callable[[asyncpg.Connection, Runtime, Namespace], Awaitable[Output]]


def with_database(command: DbCommand) -> Command:
    """Run an async command with a connection (and the embedded server, if that is used)."""

    def run(settings: Settings, args: Namespace) -> Output:
        runtime = Runtime.from_settings(settings)
        with database_url(settings) as dsn:

            async def go() -> Output:
                async with connection(dsn) as conn:
                    return await command(conn, runtime, args)

            return asyncio.run(go())

    return run


def migrate(settings: Settings, args: Namespace) -> Output:
    with database_url(settings) as dsn:

        async def go() -> list[str]:
            async with connection(dsn) as conn:
                return await apply_migrations(conn, default_sql_dir())

        applied = asyncio.run(go())
    text = "\n".join(f"applied {name}" for name in applied) or "the database is up to date"
    return Output({"applied": applied}, text)


async def create_account(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    created = await accounts.create_account(conn, args.name)
    data = {"account": created.label, "tokens": created.tokens}
    text = (
        f"account {created.label} ({created.account.name})\n"
        f"mailer token: {created.tokens['mailer']}\n"
        f"dpo token:    {created.tokens['dpo']}\n"
        "Keep the tokens now: only their hashes are stored."
    )
    return Output(data, text)


async def create_campaign(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account_id = parse_id("acc", args.account)
    campaign, numbers = await campaigns.create_campaign(
        conn, account_id, args.name, args.link or []
    )
    label = format_id("cmp", campaign.id)
    text = "\n".join(
        [
            f"campaign {label} ({campaign.name})",
            *(f"  link {no}: {url}" for url, no in numbers.items()),
        ]
    )
    return Output({"campaign": label, "links": numbers}, text)


async def mint_urls(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    campaign = await campaigns.get_campaign(conn, parse_id("cmp", args.campaign))
    async with conn.transaction():
        minted = await mint(
            conn,
            runtime,
            campaign=campaign,
            email=args.recipient,
            link_urls=args.link or None,
            now=datetime.now(UTC),
        )
    text = "\n".join(
        [
            f"pixel:   {minted.pixel}",
            *(f"link:    {url}\n    -> {target}" for target, url in minted.links.items()),
            f"consent: {minted.consent}",
            "These URLs name the recipient (consent granted)."
            if minted.named
            else "These URLs carry a random nonce, not the recipient (no consent).",
        ]
    )
    return Output(minted.as_json(), text)


async def _recipient_in_account(
    conn: Connection, runtime: Runtime, args: Namespace, *, create: bool
) -> tuple[db.Account, int | None]:
    account = await accounts.get_account(conn, parse_id("acc", args.account))
    directory = runtime.directory
    if create:
        return account, await directory.find_or_create(conn, account.id, args.recipient)
    return account, await directory.find(conn, account.id, args.recipient)


def _operator_evidence(args: Namespace) -> dict[str, Any]:
    evidence: dict[str, Any] = {"operator": getpass.getuser(), "tool": "tracker consent"}
    if getattr(args, "note", None):
        evidence["note"] = args.note
    return evidence


async def consent_change(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    async with conn.transaction():
        account, recipient_id = await _recipient_in_account(conn, runtime, args, create=True)
        assert recipient_id is not None
        change = ledger.grant if args.action == "grant" else ledger.withdraw
        status = await change(
            conn,
            account=account,
            recipient_id=recipient_id,
            method="operator",
            at=datetime.now(UTC),
            evidence=_operator_evidence(args),
        )
    return _status_output(status)


async def consent_show(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    _, recipient_id = await _recipient_in_account(conn, runtime, args, create=False)
    if recipient_id is None:
        return _status_output(ledger.status_of(None, datetime.now(UTC)))
    return _status_output(await ledger.current_status(conn, recipient_id, datetime.now(UTC)))


def _status_output(status: ledger.ConsentStatus) -> Output:
    data = {
        "state": status.state,
        "text_version": status.text_version,
        "granted_at": _iso(status.granted_at),
        "expires_at": _iso(status.expires_at),
    }
    text = f"consent: {status.state}"
    if status.expires_at and status.state == "granted":
        text += f" (until {status.expires_at:%Y-%m-%d})"
    return Output(data, text)


async def report(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    campaign = await campaigns.get_campaign(conn, parse_id("cmp", args.campaign))
    links = [(link.link_no, link.url) for link in await db.fetch_links(conn, campaign.id)]
    data = await build_report(
        conn,
        campaign_id=campaign.id,
        campaign_label=format_id("cmp", campaign.id),
        links=links,
        k=runtime.settings.k_threshold,
    )
    return Output(data, render_text(data))


def classify_requests(settings: Settings, args: Namespace) -> Output:
    """Stream verdict lines as the request lines come in; nothing to print at the end."""
    classify_lines(Classifier.from_settings(settings), sys.stdin.buffer, sys.stdout)
    return Output(None, None)


def replace_ranges(settings: Settings, args: Namespace) -> Output:
    new = update_ranges(settings.data_dir, args.source, args.file)
    data = {
        "source": new.source,
        "file": str(new.path),
        "networks": new.networks,
        "ipv4": new.ipv4,
        "ipv6": new.ipv6,
    }
    text = (
        f"the {new.source} ranges are now the {new.networks} networks given, merged into "
        f"{new.ipv4} IPv4 and {new.ipv6} IPv6 ranges in {new.path}; a running server uses "
        "them within a second"
    )
    return Output(data, text)


def rotate_keys(settings: Settings, args: Namespace) -> Output:
    path = keyfiles.rotate_signing_key(settings)
    count = len(keyfiles.read_signing_keys(path))
    return Output(
        {"keys_file": str(path), "keys": count},
        f"added a signing key to {path}; it now holds {count} keys, the newest "
        "signs new URLs and all of them still verify old ones",
    )


def server_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    """How uvicorn runs the server (the benchmark serves its reference apps the same way)."""
    return {
        "host": host,
        "port": port,
        "access_log": False,  # its lines would hold token paths and client addresses
        "proxy_headers": False,  # X-Forwarded-For is judged by TRACKER_TRUSTED_PROXIES
        "server_header": False,
        "log_config": log_config(),
        # Cut off clients that hold connections or send oversized headers.
        "http": guarded_protocol(settings.request_head_seconds),
        "timeout_keep_alive": 5,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "limit_concurrency": settings.limit_concurrency,
        "timeout_graceful_shutdown": 20,
    }


async def _require_current_schema(dsn: str) -> None:
    async with connection(dsn) as conn:
        waiting = await pending(conn, default_sql_dir())
    if waiting:
        names = ", ".join(migration.name for migration in waiting)
        raise MigrationError(
            f"the database lacks {len(waiting)} migration(s) ({names}); "
            "run `tracker migrate` before starting the server"
        )


def serve(settings: Settings, args: Namespace) -> Output:
    import uvicorn

    from tracker.app import WORKER_DSN_VARIABLE, create_app

    runtime = Runtime.from_settings(settings)  # fail on a missing secret before starting
    options = server_options(settings, args.host, args.port)
    with database_url(settings) as dsn:
        asyncio.run(_require_current_schema(dsn))
        if args.workers > 1:
            # Workers resolve settings themselves; the address of the database this
            # process started (or was given) reaches them under a name of its own.
            os.environ[WORKER_DSN_VARIABLE] = dsn
            uvicorn.run(
                "tracker.app:app_from_environ", factory=True, workers=args.workers, **options
            )
        else:
            uvicorn.run(create_app(runtime, dsn), **options)
    return Output({"stopped": True}, "server stopped")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def demo_file(settings: Settings) -> Path:
    return settings.data_dir / "demo.json"


COMMANDS: dict[str, Command] = {
    "migrate": migrate,
    "account create": with_database(create_account),
    "campaign create": with_database(create_campaign),
    "mint": with_database(mint_urls),
    "consent grant": with_database(consent_change),
    "consent withdraw": with_database(consent_change),
    "consent show": with_database(consent_show),
    "report": with_database(report),
    "keys rotate": rotate_keys,
    "classify": classify_requests,
    "ranges update": replace_ranges,
    "serve": serve,
}
