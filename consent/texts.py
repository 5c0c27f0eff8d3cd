"""Consent texts: versioned per account and language, with the SHA-256 of what was shown.

An account starts with the shipped default texts (``consent/texts/{lang}.txt``). A new
version is added with ``tracker consent text set``. A wording fix keeps the purpose, so
existing grants stay valid; ``--new-purpose`` raises the account's purpose version, and
every grant given for an earlier purpose stops counting until the person agrees again.

Bodies may name the account's settings in {placeholders}; the text a person saw is the
rendered one, and its SHA-256 is what the ledger records.
"""

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path

from consent import db
from tracker.database import Connection
from tracker.db import Account, advance_purpose, fetch_account
from tracker.errors import InvalidInput

__all__ = ["LANGUAGES", "ShownText", "current_text", "render", "set_text"]

LANGUAGES = ("en", "de")
PLACEHOLDERS = (
    "controller",
    "controller_address",
    "contact",
    "dpo",
    "validity_months",
    "retention_days",
    "proof_years",
)
_NOT_NAMED = {"en": "not named by the sender", "de": "vom Absender nicht genannt"}
_MAX_LENGTH = 20_000


@dataclass(frozen=True)
class ShownText:
    lang: str
    version: int
    purpose_version: int
    body: str  # rendered, exactly as shown
    sha256: bytes


def default_body(lang: str) -> str:
    return (Path(__file__).parent / "texts" / f"{lang}.txt").read_text(encoding="utf-8")


async def current_text(conn: Connection, account: Account, lang: str) -> ShownText | None:
    """The latest text in ``lang`` for the current purpose, or None if there is none."""
    stored = await db.fetch_latest_text(conn, account.id, lang)
    if stored is None and account.purpose_version == 1:
        stored = await db.insert_text(conn, account.id, lang, 1, default_body(lang))
    if stored is None or stored.purpose_version != account.purpose_version:
        return None
    return render(stored, account)


async def set_text(
    conn: Connection, account_id: int, lang: str, body: str, *, new_purpose: bool
) -> db.StoredText:
    if lang not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    body = body.strip()
    if not body or len(body) > _MAX_LENGTH:
        raise InvalidInput(f"a consent text needs 1 to {_MAX_LENGTH} characters")
    _check_placeholders(body)
    account = await fetch_account(conn, account_id)
    if account is None:
        raise InvalidInput("there is no such account")
    purpose = await advance_purpose(conn, account_id) if new_purpose else account.purpose_version
    return await db.insert_text(conn, account_id, lang, purpose, body)


def render(stored: db.StoredText, account: Account) -> ShownText:
    missing = _NOT_NAMED[stored.lang]
    values = {
        "controller": account.controller,
        "controller_address": f", {account.controller_address}"
        if account.controller_address
        else "",
        "contact": account.contact_email or missing,
        "dpo": account.dpo_contact or missing,
        "validity_months": str(round(account.consent_validity_days / 30.44)),
        "retention_days": str(account.retention_days),
        "proof_years": f"{account.proof_days / 365:g}",
    }
    body = stored.body.format_map(values)
    return ShownText(
        stored.lang,
        stored.version,
        stored.purpose_version,
        body,
        hashlib.sha256(body.encode("utf-8")).digest(),
    )


def _check_placeholders(body: str) -> None:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(body) if name is not None]
    except ValueError as exc:
        raise InvalidInput(f"the text has a stray brace: {exc}") from None
    unknown = sorted(set(fields) - set(PLACEHOLDERS))
    if unknown:
        raise InvalidInput(
            f"unknown placeholder {{{unknown[0]}}}; known: "
            + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
        )
