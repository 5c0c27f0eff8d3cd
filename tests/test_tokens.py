"""Signed URL tokens: round trips, every kind of tampering, key rotation and key files."""

import base64
import hmac
import os
import secrets
import string
from pathlib import Path

import pytest

from tracker.keyfiles import read_signing_keys, rotate_signing_key
from tracker.settings import Settings
from tracker.tokens import BadToken, Kind, UrlSigner, UrlToken, _KeyedHmac

OLD_KEY = b"old-signing-key-0123456789abcdefghijklmnop"
NEW_KEY = b"new-signing-key-0123456789abcdefghijklmnop"
FOREIGN_KEY = b"another-servers-key-0123456789abcdefghij"
BASE64URL = string.ascii_letters + string.digits + "-_"


def _token(kind: Kind = Kind.CLICK, *, named: bool = False) -> UrlToken:
    subject = 4_242_424_242 if named else secrets.randbits(64)
    return UrlToken(kind, 1_234_567_890_123, 3, 1_700_000_000, subject, named)


def _other_char(char: str) -> str:
    return "B" if char == "A" else "A"


@pytest.mark.parametrize("named", [True, False], ids=["named", "nonce"])
@pytest.mark.parametrize("kind", list(Kind), ids=[k.name.lower() for k in Kind])
def test_a_signed_token_verifies_to_the_same_fields(kind: Kind, named: bool) -> None:
    signer = UrlSigner((OLD_KEY,))
    token = _token(kind, named=named)

    assert signer.verify(signer.sign(token)) == token


def test_extreme_field_values_survive_the_round_trip() -> None:
    signer = UrlSigner((OLD_KEY,))
    token = UrlToken(Kind.CONSENT, 2**63 - 1, 65535, 2**32 - 1, 2**64 - 1, True)

    assert signer.verify(signer.sign(token)) == token


def test_a_tracked_link_path_stays_under_80_characters() -> None:
    signer = UrlSigner((OLD_KEY,))
    token = UrlToken(Kind.CLICK, 2**63 - 1, 65535, 2**32 - 1, 2**64 - 1, True)

    assert len("/c/" + signer.sign(token)) < 80


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "not.a.token",
        "IQAAAAAAAAB7AAFlU_EAAAAAAAAAACo.SR0_vQpYlMp3HrtsfCQ7lA",
        "x" * 5000,
        "%FF%FE%00",
        "ünïcödé.tökén",
        ".",
    ],
    ids=["empty", "word", "dots", "plausible", "long", "escapes", "non-ascii", "dot"],
)
def test_forged_text_is_a_bad_token(text: str) -> None:
    with pytest.raises(BadToken):
        UrlSigner((OLD_KEY,)).verify(text)


def test_truncated_tokens_are_bad_tokens() -> None:
    signer = UrlSigner((OLD_KEY,))
    good = signer.sign(_token())
    payload, signature = good.split(".")

    for bad in [good[:-1], good[:-5], good[: len(good) // 2], payload, payload + ".", signature]:
        with pytest.raises(BadToken):
            signer.verify(bad)


def test_one_character_altered_in_the_payload_is_a_bad_token() -> None:
    signer = UrlSigner((OLD_KEY,))
    good = signer.sign(_token())
    payload, signature = good.split(".")

    for position in range(len(payload)):
        altered = payload[:position] + _other_char(payload[position]) + payload[position + 1 :]
        with pytest.raises(BadToken):
            signer.verify(f"{altered}.{signature}")


def test_one_character_altered_in_the_middle_of_the_signature_is_a_bad_token() -> None:
    signer = UrlSigner((OLD_KEY,))
    good = signer.sign(_token())
    payload, signature = good.split(".")

    for position in range(len(signature) - 1):
        altered = (
            signature[:position] + _other_char(signature[position]) + signature[position + 1 :]
        )
        with pytest.raises(BadToken):
            signer.verify(f"{payload}.{altered}")


def test_no_altered_spelling_of_a_genuine_token_verifies() -> None:
    """The last signature character and '=' padding carry no signature bits; both must count."""
    signer = UrlSigner((OLD_KEY,))
    good = signer.sign(_token())
    head, last = good[:-1], good[-1]

    variants = [head + c for c in BASE64URL if c != last] + [good + "=", good + "=="]
    accepted = []
    for variant in variants:
        try:
            signer.verify(variant)
        except BadToken:
            continue
        accepted.append(variant)

    assert accepted == [], f"{len(accepted)} altered spellings of {good} verify"


def test_a_token_signed_with_a_foreign_key_is_a_bad_token() -> None:
    ours = UrlSigner((OLD_KEY,))
    foreign = UrlSigner((FOREIGN_KEY,)).sign(_token(named=True))

    with pytest.raises(BadToken):
        ours.verify(foreign)


def test_after_rotation_old_tokens_verify_and_new_ones_are_signed_with_the_new_key() -> None:
    before = UrlSigner((OLD_KEY,))
    rotated = UrlSigner((OLD_KEY, NEW_KEY))
    only_new = UrlSigner((NEW_KEY,))
    old_token, new_token = _token(named=True), _token(Kind.OPEN)

    issued_before = before.sign(old_token)
    issued_after = rotated.sign(new_token)

    assert rotated.verify(issued_before) == old_token
    assert only_new.verify(issued_after) == new_token
    with pytest.raises(BadToken):
        before.verify(issued_after)


def test_a_signer_watching_a_keys_file_accepts_tokens_signed_with_a_key_added_later(
    tmp_path: Path,
) -> None:
    keys_file = tmp_path / "signing-keys"
    keys_file.write_text(base64.urlsafe_b64encode(OLD_KEY).decode() + "\n")
    written_long_ago = 1_600_000_000 * 10**9
    os.utime(keys_file, ns=(written_long_ago, written_long_ago))
    settings = Settings.from_environ(
        {"TRACKER_DATA_DIR": str(tmp_path / "data"), "TRACKER_SIGNING_KEYS_FILE": str(keys_file)}
    )
    running = UrlSigner(read_signing_keys(keys_file), keys_file)
    old_token = _token(named=True)
    issued_before = running.sign(old_token)

    rotate_signing_key(settings)
    restarted = UrlSigner(read_signing_keys(keys_file), keys_file)
    new_token = _token(Kind.CONSENT, named=True)
    issued_after = restarted.sign(new_token)

    assert running.verify(issued_after) == new_token
    assert restarted.verify(issued_before) == old_token
    with pytest.raises(BadToken):
        UrlSigner(read_signing_keys(keys_file)[:1]).verify(issued_after)


@pytest.mark.parametrize("key_length", [0, 1, 32, 64, 65, 200])
def test_the_prekeyed_hmac_gives_the_standard_hmac_sha256(key_length: int) -> None:
    key, value = os.urandom(key_length), os.urandom(31)

    assert _KeyedHmac(key).signature(value) == hmac.digest(key, value, "sha256")[:16]
