"""`tracker rewrite` for one recipient (stdin to stdout) or a batch (one file each), and
`tracker report --link`."""

import csv
import io
import json
import re
import sys
from argparse import Namespace
from datetime import UTC, datetime
from pathlib import Path

from tracker import campaigns
from tracker.commands import Command, Output, with_database
from tracker.database import Connection
from tracker.db import Campaign
from tracker.errors import InvalidInput
from tracker.ids import parse_id
from tracker.mailing import rewrite_for
from tracker.reportpage import report_link
from tracker.runtime import Runtime

__all__ = ["MAIL_COMMANDS", "read_recipients"]

_UNSAFE = re.compile(r"[^a-z0-9@._+-]")


def read_recipients(path: Path) -> list[str]:
    """E-mail addresses from a CSV (column 'email', or the first) or a JSON list."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            items = json.loads(text)
        except ValueError:
            raise InvalidInput(f"{path} is not valid JSON") from None
        if not isinstance(items, list):
            raise InvalidInput(f"{path} must hold a JSON list of addresses or objects")
        return [str(i["email"] if isinstance(i, dict) else i) for i in items]
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    column = rows[0].index("email") if "email" in rows[0] else 0
    body = rows[1:] if "email" in rows[0] else rows
    return [row[column].strip() for row in body if len(row) > column and row[column].strip()]


def _read_html(source: str | None) -> str:
    """The mail as text; bytes that are not UTF-8 survive unchanged (surrogateescape)."""
    try:
        raw = Path(source).read_bytes() if source else sys.stdin.buffer.read()
    except OSError as exc:
        raise InvalidInput(f"cannot read {source}: {exc.strerror}") from None
    return raw.decode("utf-8", errors="surrogateescape")


def _encode(html: str) -> bytes:
    return html.encode("utf-8", errors="surrogateescape")


async def rewrite(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    campaign = await campaigns.get_campaign(conn, parse_id("cmp", args.campaign))
    html = _read_html(args.input)
    if args.recipients:
        return await _rewrite_batch(conn, runtime, campaign, html, args)
    if not args.recipient:
        raise InvalidInput("give --recipient EMAIL, or --recipients FILE with --out-dir DIR")
    async with conn.transaction():
        mail = await rewrite_for(
            conn,
            runtime,
            campaign=campaign,
            email=args.recipient,
            html=html,
            lang=args.lang,
            now=datetime.now(UTC),
        )
    if args.json:
        return Output({"html": mail.html, "named": mail.named, "links": mail.links}, None)
    sys.stdout.buffer.write(_encode(mail.html))
    sys.stdout.buffer.flush()
    return Output(None, None)


async def _rewrite_batch(
    conn: Connection, runtime: Runtime, campaign: Campaign, html: str, args: Namespace
) -> Output:
    if not args.out_dir:
        raise InvalidInput("--recipients needs --out-dir DIR for the rewritten files")
    recipients = read_recipients(Path(args.recipients))
    out = _prepare(Path(args.out_dir))
    written, named = [], 0
    for number, email in enumerate(recipients, start=1):
        async with conn.transaction():
            mail = await rewrite_for(
                conn,
                runtime,
                campaign=campaign,
                email=email,
                html=html,
                lang=args.lang,
                now=datetime.now(UTC),
            )
        path = out / f"{number:05d}-{_UNSAFE.sub('_', email.strip().lower())}.html"
        _write(path, _encode(mail.html))
        written.append(str(path))
        named += mail.named
        _progress(number, len(recipients))
    print(file=sys.stderr)
    data = {"written": len(written), "named": named, "out_dir": str(out)}
    return Output(
        data,
        f"wrote {len(written)} files to {out} ({named} named, {len(written) - named} with a nonce)",
    )


def _prepare(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {folder}: {exc.strerror}") from None
    return folder


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
        end="",
        file=sys.stderr,
        flush=True,
    )


async def report_page_link(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    campaign = await campaigns.get_campaign(conn, parse_id("cmp", args.campaign))
    url, expires = report_link(runtime, campaign.id)
    return Output(
        {"url": url, "expires_at": expires.isoformat()},
        f"{url}\n(valid until {expires:%Y-%m-%d %H:%M} UTC)",
    )


MAIL_COMMANDS: dict[str, Command] = {
    "rewrite": with_database(rewrite),
    "report link": with_database(report_page_link),
}
