"""Campaigns and their tracked links; link targets are checked when registered."""

from collections.abc import Sequence
from urllib.parse import urlsplit

from tracker import db
from tracker.database import Connection
from tracker.errors import InvalidInput, NotFound
from tracker.ids import format_id, new_id

__all__ = [
    "MAX_TARGET_LENGTH",
    "create_campaign",
    "get_campaign",
    "register_links",
    "validate_target",
]

MAX_TARGET_LENGTH = 2048


def validate_target(url: str) -> str:
    """Accept only plain http(s) URLs with a host, no credentials and no control characters."""
    if len(url) > MAX_TARGET_LENGTH:
        raise InvalidInput(f"link target is longer than {MAX_TARGET_LENGTH} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise InvalidInput(f"link target {url[:80]!r} contains spaces or control characters")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        raise InvalidInput(f"link target {url[:80]!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"link target {url[:80]!r} must start with http:// or https://")
    if not parts.hostname:
        raise InvalidInput(f"link target {url[:80]!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(f"link target {url[:80]!r} must not carry a user name or password")
    return url


async def create_campaign(
    conn: Connection, account_id: int, name: str, links: Sequence[str]
) -> tuple[db.Campaign, dict[str, int]]:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("a campaign name needs 1 to 200 characters")
    targets = [validate_target(url) for url in links]
    async with conn.transaction():
        if await db.fetch_account(conn, account_id) is None:
            raise NotFound(f"there is no account {format_id('acc', account_id)}")
        campaign = await db.insert_campaign(conn, new_id(), account_id, name)
        numbers = await db.insert_links(conn, campaign.id, targets) if targets else {}
    return campaign, numbers


async def get_campaign(conn: Connection, campaign_id: int) -> db.Campaign:
    campaign = await db.fetch_campaign(conn, campaign_id)
    if campaign is None:
        raise NotFound(f"there is no campaign {format_id('cmp', campaign_id)}")
    return campaign


async def register_links(conn: Connection, campaign_id: int, urls: Sequence[str]) -> dict[str, int]:
    targets = [validate_target(url) for url in urls]
    async with conn.transaction():
        return await db.insert_links(conn, campaign_id, targets)
