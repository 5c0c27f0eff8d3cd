"""Accounts (a sender, the controller) and their API tokens.

A token is shown once, at creation; only its SHA-256 is stored.
"""

import hashlib
import secrets
from dataclasses import dataclass

from tracker import db
from tracker.database import Connection
from tracker.errors import InvalidInput, NotFound
from tracker.ids import format_id, new_id

__all__ = ["SCOPES", "NewAccount", "authenticate", "create_account", "get_account", "hash_token"]

SCOPES = ("mailer", "dpo")


@dataclass(frozen=True)
class NewAccount:
    account: db.Account
    tokens: dict[str, str]  # scope -> token, shown once

    @property
    def label(self) -> str:
        return format_id("acc", self.account.id)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_account(conn: Connection, name: str) -> NewAccount:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("an account name needs 1 to 200 characters")
    async with conn.transaction():
        account = await db.insert_account(conn, new_id(), name)
        tokens = {}
        for scope in SCOPES:
            token = f"trk_{scope}_{secrets.token_urlsafe(32)}"
            await db.insert_api_token(conn, hash_token(token), account.id, scope)
            tokens[scope] = token
    return NewAccount(account, tokens)


async def get_account(conn: Connection, account_id: int) -> db.Account:
    account = await db.fetch_account(conn, account_id)
    if account is None:
        raise NotFound(f"there is no account {format_id('acc', account_id)}")
    return account


async def authenticate(conn: Connection, token: str) -> tuple[int, str] | None:
    """(account id, scope) for a valid token, None otherwise."""
    return await db.fetch_token(conn, hash_token(token))
