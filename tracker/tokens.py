"""Signed URL tokens for pixels, tracked links and consent pages.

A token is 23 bytes of payload, base64url, a dot, and a 128-bit truncated HMAC-SHA256
made by itsdangerous (compared in constant time, a list of keys for rotation: the newest
signs, all verify). The payload carries the kind, the campaign, the link number, the
minting time and a 64-bit subject: the recipient's random id for a named token, a random
per-message nonce otherwise. A tracked link's path stays under 60 characters.
"""

import base64
import binascii
import hashlib
import hmac
import re
import struct
import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, Signer
from itsdangerous.signer import SigningAlgorithm

from tracker.keyfiles import read_signing_keys

__all__ = ["BadToken", "Kind", "UrlSigner", "UrlToken"]

_FORMAT = struct.Struct(">BQHIQ")  # kind|named<<4|version<<5, campaign, link, minted, subject
_VERSION = 1
_SALT = b"tracker.url.v1"
_RELOAD_INTERVAL = 1.0


class Kind(IntEnum):
    OPEN = 0
    CLICK = 1
    CONSENT = 2


class BadToken(Exception):
    """Malformed, truncated, altered, forged or signed with an unknown key."""


@dataclass(frozen=True, slots=True)
class UrlToken:
    kind: Kind
    campaign_id: int
    link_no: int
    minted_at: int  # unix seconds
    subject: int  # recipient id when named, else a random per-message nonce
    named: bool


class _TruncatedHMAC(SigningAlgorithm):
    """HMAC-SHA256 cut to 128 bits: ample against forgery, and it keeps URLs short."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, "sha256")[:16]


class _Signer(Signer):
    """itsdangerous' signer, deriving each key once rather than on every verification."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived: dict[bytes, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        name = secret_key.encode() if isinstance(secret_key, str) else secret_key
        if name is None:
            return super().derive_key()
        if name not in self._derived:
            self._derived[name] = super().derive_key(name)
        return self._derived[name]


class UrlSigner:
    """Signs and verifies tokens; picks up keys added by `tracker keys rotate` within 1 s."""

    def __init__(self, keys: tuple[bytes, ...], keys_file: Path | None = None) -> None:
        self._keys_file = keys_file
        self._keys_mtime = _mtime(keys_file)
        self._checked_at = time.monotonic()
        self._signer = _signer(keys)

    def sign(self, token: UrlToken) -> str:
        self._reload_if_changed()
        flags = token.kind | (token.named << 4) | (_VERSION << 5)
        payload = _FORMAT.pack(
            flags, token.campaign_id, token.link_no, token.minted_at, token.subject
        )
        return self._signer.sign(_b64encode(payload)).decode()

    def verify(self, text: str) -> UrlToken:
        try:
            return self._verify(text)
        except BadToken:
            # A token signed with a key rotated in a moment ago: look at the file now.
            if not self._reload_if_changed(force=True):
                raise
            return self._verify(text)

    def _verify(self, text: str) -> UrlToken:
        # Only the one canonical spelling: base64 tolerates padding and ignores the spare
        # low bits of a last character, and an altered token must not pass.
        if not _CANONICAL.fullmatch(text):
            raise BadToken(text[:8])
        try:
            raw = self._signer.unsign(text.encode("ascii"))
            payload = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
            flags, campaign_id, link_no, minted_at, subject = _FORMAT.unpack(payload)
            kind = Kind(flags & 0x0F)
        except (BadSignature, UnicodeError, binascii.Error, struct.error, ValueError):
            raise BadToken(text[:8]) from None
        if flags >> 5 != _VERSION:
            raise BadToken(text[:8])
        return UrlToken(kind, campaign_id, link_no, minted_at, subject, bool(flags & 0x10))

    def _reload_if_changed(self, *, force: bool = False) -> bool:
        now = time.monotonic()
        if self._keys_file is None or (not force and now - self._checked_at < _RELOAD_INTERVAL):
            return False
        self._checked_at = now
        mtime = _mtime(self._keys_file)
        if mtime == self._keys_mtime:
            return False
        self._keys_mtime = mtime
        self._signer = _signer(read_signing_keys(self._keys_file))
        return True


def _signer(keys: tuple[bytes, ...]) -> Signer:
    options: dict[str, Any] = {"digest_method": hashlib.sha256}
    return _Signer(
        list(keys), salt=_SALT, key_derivation="hmac", algorithm=_TruncatedHMAC(), **options
    )


# 31 characters of payload (23 bytes; the last character carries 2 spare bits, so it must
# be one of the four with them clear), a dot, 22 of signature (16 bytes; 4 spare bits).
_CANONICAL = re.compile(r"[A-Za-z0-9_-]{30}[AEIMQUYcgkosw048]\.[A-Za-z0-9_-]{21}[AQgw]")


def _b64encode(payload: bytes) -> bytes:
    return base64.urlsafe_b64encode(payload).rstrip(b"=")


def _mtime(path: Path | None) -> int | None:
    try:
        return path.stat().st_mtime_ns if path else None
    except OSError:
        return None
