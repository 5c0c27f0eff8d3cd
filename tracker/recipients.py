"""Recipients: found by blind index, created with an encrypted address, read back by key."""

from tracker import db
from tracker.crypto import EmailVault, UnreadableEmail, blind_index, normalize_email
from tracker.database import Connection
from tracker.ids import new_id

__all__ = ["RecipientDirectory"]


class RecipientDirectory:
    def __init__(self, vault: EmailVault, index_key: bytes) -> None:
        self._vault = vault
        self._index_key = index_key

    @property
    def vault(self) -> EmailVault:
        return self._vault

    async def find(self, conn: Connection, account_id: int, email: str) -> int | None:
        index = blind_index(self._index_key, account_id, email)
        recipient = await db.fetch_recipient_by_index(conn, account_id, index)
        return recipient.id if recipient else None

    async def find_or_create(self, conn: Connection, account_id: int, email: str) -> int:
        address = normalize_email(email)
        index = blind_index(self._index_key, account_id, address)
        existing = await db.fetch_recipient_by_index(conn, account_id, index)
        if existing is not None:
            return existing.id
        recipient_id = new_id()
        sealed = self._vault.seal(recipient_id, address)
        if await db.insert_recipient(
            conn, recipient_id, account_id, index, sealed.ciphertext, sealed.wrapped_key
        ):
            return recipient_id
        # Another process created it between our look-up and insert.
        raced = await db.fetch_recipient_by_index(conn, account_id, index)
        assert raced is not None
        return raced.id

    async def email_of(self, conn: Connection, recipient_id: int) -> str | None:
        """The address, or None once the recipient's key has been destroyed."""
        recipient = await db.fetch_recipient(conn, recipient_id)
        if recipient is None or recipient.email_ciphertext is None:
            return None
        try:
            return self._vault.open(recipient.id, recipient.email_ciphertext, recipient.wrapped_key)
        except UnreadableEmail:
            return None
