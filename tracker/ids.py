"""Random identifiers.

Ids are random 63-bit integers in the database (nothing sequential to enumerate) and are
shown to users with a short prefix that says what they name, e.g. ``cmp_5x0k2m9q1t3ab``.
"""

import secrets

from tracker.errors import InvalidInput

__all__ = ["format_id", "new_id", "parse_id"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id() -> int:
    """A random positive 63-bit id (fits PostgreSQL's bigint)."""
    return secrets.randbits(63) or 1


def format_id(prefix: str, value: int) -> str:
    chars = []
    for _ in range(13):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_{''.join(reversed(chars))}"


def parse_id(prefix: str, text: str) -> int:
    """Parse an id shown to a user; a wrong prefix or character is an InvalidInput."""
    head, _, body = text.strip().partition("_")
    if head != prefix or len(body) != 13:
        raise InvalidInput(f"{text!r} is not a {prefix}_ id (expected {prefix}_ and 13 characters)")
    value = 0
    for char in body.lower():
        digit = _ALPHABET.find(char)
        if digit < 0:
            raise InvalidInput(f"{text!r} is not a {prefix}_ id (bad character {char!r})")
        value = value * 32 + digit
    if not 0 < value < 2**63:
        raise InvalidInput(f"{text!r} is not a {prefix}_ id (out of range)")
    return value
