"""`tracker webhook add|list|remove|deliveries|replay`."""

import asyncio
from argparse import Namespace
from datetime import UTC, datetime
from typing import Any

from tracker import accounts, webhooks_db
from tracker.commands import Command, Output, with_database
from tracker.database import Connection, create_pool, database_url
from tracker.errors import InvalidInput
from tracker.ids import format_id, parse_id
from tracker.runtime import Runtime
from tracker.settings import Settings
from tracker.webhooks import Deliverer, add_webhook, delivery_policy, remove_webhook

__all__ = ["WEBHOOK_COMMANDS"]


async def add(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await accounts.get_account(conn, parse_id("acc", args.account))
    verdicts = [v.strip() for v in args.verdicts.split(",") if v.strip()]
    webhook_id, secret = await add_webhook(
        conn, account.id, args.url, verdicts, hourly_summary=args.hourly_summary
    )
    label = format_id("whk", webhook_id)
    what = (
        "the hourly anonymous campaign summary"
        if args.hourly_summary
        else f"{', '.join(sorted(set(verdicts)))} events"
    )
    return Output(
        {"webhook": label, "secret": secret},
        f"webhook {label} for {what}\n"
        f"secret: {secret}\nKeep the secret now: receivers verify signatures with it.",
    )


async def list_webhooks(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await accounts.get_account(conn, parse_id("acc", args.account))
    hooks = await webhooks_db.fetch_webhooks(conn, account.id)
    data = [
        {
            "webhook": format_id("whk", h.id),
            "url": h.url,
            "verdicts": h.verdicts,
            "hourly_summary": h.hourly_summary,
            "created_at": h.created_at.isoformat(),
        }
        for h in hooks
    ]
    text = "\n".join(f"{d['webhook']}  {_what(d):<20} {d['url']}" for d in data) or "no webhooks"
    return Output(data, text)


def _what(webhook: dict[str, Any]) -> str:
    return "hourly summary" if webhook["hourly_summary"] else ",".join(webhook["verdicts"])


async def remove(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await accounts.get_account(conn, parse_id("acc", args.account))
    await remove_webhook(conn, account.id, parse_id("whk", args.webhook))
    return Output({"removed": args.webhook}, f"removed {args.webhook}")


async def deliveries(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await accounts.get_account(conn, parse_id("acc", args.account))
    rows = await webhooks_db.fetch_deliveries(
        conn, account.id, parse_id("whk", args.webhook), args.limit
    )
    data = [
        {
            "id": str(r["id"]),
            "state": r["state"],
            "attempts": r["attempts"],
            "created_at": r["created_at"].isoformat(),
            "last_status": r["last_status"],
            "last_error": r["last_error"],
        }
        for r in rows
    ]
    text = (
        "\n".join(
            f"{d['created_at'][:19]}  {d['id']}  {d['state']:<9} attempts "
            f"{d['attempts']}  {d['last_status'] or d['last_error'] or ''}"
            for d in data
        )
        or "no deliveries yet"
    )
    return Output(data, text)


async def replay(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await accounts.get_account(conn, parse_id("acc", args.account))
    try:
        since = datetime.fromisoformat(args.since)
    except ValueError:
        raise InvalidInput(f"--since {args.since!r} is not an ISO 8601 time") from None
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    count = await webhooks_db.replay_since(conn, account.id, parse_id("whk", args.webhook), since)
    return Output({"replayed": count}, f"{count} deliveries queued again (same webhook-ids)")


def deliver(settings: Settings, args: Namespace) -> Output:
    """Deliver webhooks in a process of its own, so that posting never slows the pixel path
    (set TRACKER_WEBHOOK_DELIVERY=off for `tracker serve`)."""
    runtime = Runtime.from_settings(settings)
    with database_url(settings) as dsn:

        async def run() -> None:
            pool = await create_pool(dsn, min_size=1, max_size=4)
            deliverer = Deliverer(pool, runtime.directory.vault, delivery_policy(settings))
            try:
                await deliverer.run_forever()
            finally:
                await deliverer.close()
                await pool.close()

        try:
            asyncio.run(run())
        except KeyboardInterrupt:
            pass
    return Output({"stopped": True}, "webhook delivery stopped")


WEBHOOK_COMMANDS: dict[str, Command] = {
    "webhook deliver": deliver,
    "webhook add": with_database(add),
    "webhook list": with_database(list_webhooks),
    "webhook remove": with_database(remove),
    "webhook deliveries": with_database(deliveries),
    "webhook replay": with_database(replay),
}
