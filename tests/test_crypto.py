"""E-mail addresses at rest: envelope encryption, the blind index and address checks."""

import pytest

from tracker.crypto import EmailVault, UnreadableEmail, blind_index, normalize_email
from tracker.errors import InvalidInput

KEK = b"k" * 32
INDEX_KEY = b"b" * 32
ADDRESS = "ada.lovelace@example.org"


def test_a_sealed_address_opens_to_the_same_address() -> None:
    vault = EmailVault(KEK)
    sealed = vault.seal(7, ADDRESS)

    assert vault.open(7, sealed.ciphertext, sealed.wrapped_key) == ADDRESS


def test_the_ciphertext_and_the_wrapped_key_do_not_contain_the_address() -> None:
    sealed = EmailVault(KEK).seal(7, ADDRESS)

    for stored in (sealed.ciphertext, sealed.wrapped_key):
        assert ADDRESS.encode() not in stored
        assert b"lovelace" not in stored
        assert b"example.org" not in stored


def test_sealing_the_same_address_twice_gives_different_ciphertexts() -> None:
    vault = EmailVault(KEK)

    first, second = vault.seal(7, ADDRESS), vault.seal(7, ADDRESS)

    assert first.ciphertext != second.ciphertext
    assert first.wrapped_key != second.wrapped_key


def test_opening_with_another_recipient_id_is_unreadable() -> None:
    vault = EmailVault(KEK)
    sealed = vault.seal(7, ADDRESS)

    with pytest.raises(UnreadableEmail):
        vault.open(8, sealed.ciphertext, sealed.wrapped_key)


def test_opening_after_the_data_key_was_destroyed_is_unreadable() -> None:
    vault = EmailVault(KEK)
    sealed = vault.seal(7, ADDRESS)

    with pytest.raises(UnreadableEmail):
        vault.open(7, sealed.ciphertext, None)


def test_opening_with_another_key_encryption_key_is_unreadable() -> None:
    sealed = EmailVault(KEK).seal(7, ADDRESS)

    with pytest.raises(UnreadableEmail):
        EmailVault(b"x" * 32).open(7, sealed.ciphertext, sealed.wrapped_key)


def test_swapping_ciphertexts_between_recipients_is_unreadable() -> None:
    vault = EmailVault(KEK)
    mine, theirs = vault.seal(7, ADDRESS), vault.seal(7, "bob@example.org")

    with pytest.raises(UnreadableEmail):
        vault.open(7, theirs.ciphertext, mine.wrapped_key)


@pytest.mark.parametrize(
    "spelling",
    [
        "Ada.Lovelace@Example.ORG",
        "  ada.lovelace@example.org",
        "ada.lovelace@example.org\n",
        "\tADA.LOVELACE@EXAMPLE.ORG  ",
    ],
)
def test_the_blind_index_ignores_case_and_surrounding_whitespace(spelling: str) -> None:
    assert blind_index(INDEX_KEY, 1, spelling) == blind_index(INDEX_KEY, 1, ADDRESS)


def test_the_blind_index_differs_across_accounts_keys_and_addresses() -> None:
    reference = blind_index(INDEX_KEY, 1, ADDRESS)

    assert blind_index(INDEX_KEY, 2, ADDRESS) != reference
    assert blind_index(b"c" * 32, 1, ADDRESS) != reference
    assert blind_index(INDEX_KEY, 1, "bob@example.org") != reference
    assert ADDRESS.encode() not in reference


def test_normalize_email_trims_and_lower_cases() -> None:
    assert normalize_email("  Ada.Lovelace@Example.ORG\n") == ADDRESS


def test_normalize_email_accepts_254_characters() -> None:
    longest = "a" * 242 + "@example.org"

    assert normalize_email(longest) == longest


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ada",
        "ada@",
        "@example.org",
        "ada@example",
        "ada@@example.org",
        "ada@bob@example.org",
        "ada lovelace@example.org",
        "<ada@example.org>",
        "Ada <ada@example.org>",
        "ada@example.org, bob@example.org",
        "ada@example.org;bob@example.org",
        '"ada"@example.org',
        "a" * 243 + "@example.org",
    ],
)
def test_normalize_email_rejects_what_is_not_one_address(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not an e-mail address"):
        normalize_email(text)


def test_the_blind_index_of_a_bad_address_is_refused() -> None:
    with pytest.raises(InvalidInput):
        blind_index(INDEX_KEY, 1, "not an address")
