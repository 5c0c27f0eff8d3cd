"""The server's secrets: where they come from, generating them once, rotating signing keys.

Each secret comes from, in this order: its environment variable, the file its ``*_FILE``
variable names, or (embedded default, development mode only) a file in the data directory
that is generated on first use with mode 0600. In production mode a missing secret is an
error that names the variables to set.
"""

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tracker.errors import ConfigError
from tracker.settings import Secret, Settings

__all__ = ["Secrets", "load_secrets", "read_signing_keys", "rotate_signing_key"]

SIGNING_KEYS_FILENAME = "signing-keys"
KEK_FILENAME = "key-encryption-key"
BLIND_INDEX_FILENAME = "blind-index-key"


@dataclass(frozen=True, repr=False)
class Secrets:
    signing_keys: tuple[bytes, ...]  # oldest first; the last one signs
    signing_keys_file: Path | None  # watched for rotation when keys come from a file
    kek: bytes  # key-encryption key, wraps every recipient's data key
    blind_index_key: bytes  # keys the e-mail lookup index

    def derived_key(self, label: str) -> bytes:
        """A sub-key for one purpose, so that one secret never does two jobs."""
        return hmac.new(self.blind_index_key, label.encode(), hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "Secrets(**********)"


def load_secrets(settings: Settings) -> Secrets:
    keys_file = _source_file(
        settings,
        settings.signing_keys,
        settings.signing_keys_file,
        "TRACKER_SIGNING_KEYS",
        SIGNING_KEYS_FILENAME,
        _new_signing_key,
    )
    if settings.signing_keys is not None:
        signing_keys = _parse_signing_keys(settings.signing_keys.reveal(), "TRACKER_SIGNING_KEYS")
    else:
        assert keys_file is not None
        signing_keys = read_signing_keys(keys_file)
    return Secrets(
        signing_keys=signing_keys,
        signing_keys_file=keys_file,
        kek=_load_key(settings, settings.kek, settings.kek_file, "TRACKER_KEK", KEK_FILENAME),
        blind_index_key=_load_key(
            settings,
            settings.blind_index_key,
            settings.blind_index_key_file,
            "TRACKER_BLIND_INDEX_KEY",
            BLIND_INDEX_FILENAME,
        ),
    )


def read_signing_keys(path: Path) -> tuple[bytes, ...]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read signing keys from {path}: {exc.strerror}") from None
    return _parse_signing_keys(text, str(path))


def rotate_signing_key(settings: Settings) -> Path:
    """Append a new signing key; it signs from now on, the older ones still verify."""
    if settings.signing_keys is not None:
        raise ConfigError(
            "signing keys come from TRACKER_SIGNING_KEYS; append a new key to it yourself "
            "(comma-separated, newest last), or keep them in a file named by "
            "TRACKER_SIGNING_KEYS_FILE so that `tracker keys rotate` can add one"
        )
    path = _source_file(
        settings,
        None,
        settings.signing_keys_file,
        "TRACKER_SIGNING_KEYS",
        SIGNING_KEYS_FILENAME,
        _new_signing_key,
    )
    assert path is not None
    read_signing_keys(path)  # refuse to append to a file we cannot read back
    with path.open("a") as stream:
        stream.write(_new_signing_key())
        stream.flush()
        os.fsync(stream.fileno())
    return path


def _new_signing_key() -> str:
    return secrets.token_urlsafe(32) + "\n"


def _new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode() + "\n"


def _parse_signing_keys(text: str, origin: str) -> tuple[bytes, ...]:
    keys = tuple(k.strip().encode() for k in text.replace(",", "\n").splitlines() if k.strip())
    if not keys:
        raise ConfigError(f"{origin} holds no signing key")
    if any(len(key) < 32 for key in keys):
        raise ConfigError(f"{origin} holds a signing key shorter than 32 characters")
    return keys


def _load_key(
    settings: Settings, value: Secret | None, file: Path | None, name: str, filename: str
) -> bytes:
    if value is not None:
        return _decode_key(value.reveal(), name)
    path = _source_file(settings, value, file, name, filename, _new_key)
    assert path is not None
    try:
        return _decode_key(path.read_text(), str(path))
    except OSError as exc:
        raise ConfigError(f"cannot read {name} from {path}: {exc.strerror}") from None


def _decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{origin} must be base64 of 32 random bytes") from None
    if len(key) != 32:
        raise ConfigError(f"{origin} must be base64 of 32 random bytes, not {len(key)} bytes")
    return key


def _source_file(
    settings: Settings,
    value: Secret | None,
    file: Path | None,
    name: str,
    filename: str,
    generate: Callable[[], str],
) -> Path | None:
    if value is not None:
        return None
    if file is not None:
        if not file.exists():
            raise ConfigError(f"{name}_FILE names {file}, which does not exist")
        return file
    if settings.production or not settings.embedded:
        raise ConfigError(
            f"{name} is not set: give the secret in {name} or a file path in {name}_FILE "
            "(secrets are generated automatically only for the embedded development database)"
        )
    path = settings.data_dir / filename
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(generate())
    return path
