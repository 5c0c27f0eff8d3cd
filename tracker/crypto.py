"""E-mail addresses at rest: envelope encryption and a keyed blind index.

Every recipient has a random 256-bit data key. The address is encrypted with it (AES-GCM);
the data key is stored wrapped by the key-encryption key (KEK, AES-GCM). Destroying a
recipient's wrapped data key makes every copy of the ciphertext unreadable: erasure by
crypto-shredding. Lookups go through a blind index, HMAC-SHA256 of the normalised address
under a separate key, so the database never needs the plain address to find a recipient.
"""

import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tracker.errors import InvalidInput

__all__ = ["EmailVault", "SealedEmail", "UnreadableEmail", "blind_index", "normalize_email"]

_NONCE_BYTES = 12
_EMAIL = re.compile(r"[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+")


class UnreadableEmail(Exception):
    """The data key is gone (erased) or the ciphertext does not match it."""


@dataclass(frozen=True)
class SealedEmail:
    ciphertext: bytes
    wrapped_key: bytes


def normalize_email(text: str) -> str:
    """The canonical form used for the blind index: trimmed and lower-cased."""
    email = text.strip().lower()
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise InvalidInput(f"{text!r} is not an e-mail address")
    return email


def blind_index(key: bytes, account_id: int, email: str) -> bytes:
    message = f"{account_id}:{normalize_email(email)}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()


class EmailVault:
    def __init__(self, kek: bytes) -> None:
        self._kek = AESGCM(kek)

    def seal(self, recipient_id: int, email: str) -> SealedEmail:
        data_key = AESGCM.generate_key(bit_length=256)
        return SealedEmail(
            ciphertext=_encrypt(AESGCM(data_key), email.encode(), _aad("email", recipient_id)),
            wrapped_key=_encrypt(self._kek, data_key, _aad("data-key", recipient_id)),
        )

    def open(self, recipient_id: int, ciphertext: bytes, wrapped_key: bytes | None) -> str:
        if wrapped_key is None:
            raise UnreadableEmail("the recipient's data key was destroyed")
        try:
            data_key = _decrypt(self._kek, wrapped_key, _aad("data-key", recipient_id))
            plain = _decrypt(AESGCM(data_key), ciphertext, _aad("email", recipient_id))
        except (InvalidTag, ValueError) as exc:
            raise UnreadableEmail("the e-mail ciphertext does not open with its key") from exc
        return plain.decode()


def _aad(label: str, recipient_id: int) -> bytes:
    return f"{label}:{recipient_id}".encode()


def _encrypt(cipher: AESGCM, plain: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, plain, aad)


def _decrypt(cipher: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    return cipher.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad)
