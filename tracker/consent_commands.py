"""CLI commands for account settings, consent texts and consent imports."""

from argparse import Namespace
from pathlib import Path

from consent.importing import import_consents, parse_rows
from consent.texts import current_text, set_text
from tracker import accounts, db
from tracker.commands import Command, Output, with_database
from tracker.database import Connection
from tracker.errors import InvalidInput
from tracker.ids import parse_id
from tracker.runtime import Runtime

__all__ = ["CONSENT_COMMANDS"]

_TEXT_SETTINGS = (
    "controller_name",
    "controller_address",
    "contact_email",
    "dpo_contact",
    "privacy_url",
)
_DAY_SETTINGS = ("consent_validity_days", "retention_days", "proof_days")


async def set_account(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await accounts.get_account(conn, parse_id("acc", args.account))
    changes: dict[str, object] = {}
    for name in _TEXT_SETTINGS:
        value = getattr(args, name)
        if value is not None:
            changes[name] = value.strip() or None
    for name in _DAY_SETTINGS:
        value = getattr(args, name)
        if value is not None:
            if not 1 <= value <= 7300:
                raise InvalidInput(f"--{name.replace('_', '-')} must be between 1 and 7300")
            changes[name] = value
    if not changes:
        raise InvalidInput("nothing to set; see tracker account set --help")
    async with conn.transaction():
        await db.update_account_settings(conn, account.id, changes)
        updated = await accounts.get_account(conn, account.id)
    data = {"account": args.account, **{n: getattr(updated, n) for n in db.ACCOUNT_SETTINGS}}
    text = "\n".join(f"{name}: {value}" for name, value in data.items())
    return Output(data, text)


async def set_consent_text(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account_id = parse_id("acc", args.account)
    await accounts.get_account(conn, account_id)
    body = _read_text(args.file)
    async with conn.transaction():
        stored = await set_text(conn, account_id, args.lang, body, new_purpose=args.new_purpose)
    data = {
        "account": args.account,
        "lang": stored.lang,
        "version": stored.version,
        "purpose_version": stored.purpose_version,
    }
    note = (
        "a new purpose: earlier grants no longer count until renewed"
        if args.new_purpose
        else "same purpose: earlier grants stay valid"
    )
    return Output(data, f"{args.lang} text version {stored.version} ({note})")


async def show_consent_text(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await accounts.get_account(conn, parse_id("acc", args.account))
    async with conn.transaction():
        text = await current_text(conn, account, args.lang)
    if text is None:
        raise InvalidInput(f"account has no {args.lang} text for its current purpose")
    data = {
        "lang": text.lang,
        "version": text.version,
        "purpose_version": text.purpose_version,
        "sha256": text.sha256.hex(),
        "text": text.body,
    }
    return Output(data, f"version {text.version}, SHA-256 {text.sha256.hex()}\n\n{text.body}")


async def import_consent_file(conn: Connection, runtime: Runtime, args: Namespace) -> Output:
    account = await accounts.get_account(conn, parse_id("acc", args.account))
    content = _read_text(args.file)
    fmt = args.format or ("csv" if args.file.endswith(".csv") else "jsonl")
    outcome = await import_consents(conn, runtime.directory, account, parse_rows(content, fmt))
    data = {"imported": outcome.imported, "skipped": outcome.skipped}
    return Output(
        data,
        f"imported {outcome.imported} consents, skipped {outcome.skipped}"
        " (older than a decision already recorded)",
    )


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None


CONSENT_COMMANDS: dict[str, Command] = {
    "account set": with_database(set_account),
    "consent text set": with_database(set_consent_text),
    "consent text show": with_database(show_consent_text),
    "consent import": with_database(import_consent_file),
}
