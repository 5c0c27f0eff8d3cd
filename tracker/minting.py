"""Minting a recipient's URLs for one mail: pixel, tracked links and consent page.

A URL names the recipient only if their consent is granted at minting time; everyone else
gets a random per-message nonce in the pixel and link tokens, which is never stored next to
a person. The consent URL always names the recipient: it is how they say yes or no.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aggregates import db as aggregates_db
from aggregates.report import AUDIENCE_SKETCH
from consent.ledger import current_status
from tracker import db
from tracker.campaigns import register_links
from tracker.database import Connection
from tracker.runtime import Runtime
from tracker.tokens import Kind, UrlToken

__all__ = ["MintedUrls", "mint"]


@dataclass(frozen=True)
class MintedUrls:
    pixel: str
    links: dict[str, str]  # target -> tracked URL
    consent: str
    named: bool
    honeypot: str | None = None  # the invisible link `rewrite` adds, when asked for

    def as_json(self) -> dict[str, object]:
        return {
            "pixel": self.pixel,
            "links": self.links,
            "consent": self.consent,
            "named": self.named,
        }


async def mint(
    conn: Connection,
    runtime: Runtime,
    *,
    campaign: db.Campaign,
    email: str,
    link_urls: Sequence[str] | None = None,
    honeypot_link: int | None = None,
    now: datetime,
) -> MintedUrls:
    """URLs for one mail to ``email``: for ``link_urls`` (registered if new; None: all the
    campaign's links), and for the honeypot link if its number is given."""
    recipient_id = await runtime.directory.find_or_create(conn, campaign.account_id, email)
    if link_urls is not None:
        numbers = await register_links(conn, campaign.id, link_urls) if link_urls else {}
    else:
        numbers = {link.url: link.link_no for link in await db.fetch_links(conn, campaign.id)}
    status = await current_status(conn, recipient_id, now)
    named = status.state == "granted"
    subject = recipient_id if named else secrets.randbits(64)
    minted_at = int(now.timestamp())
    base = runtime.settings.base_url

    def url(prefix: str, kind: Kind, link_no: int, subject: int, named: bool) -> str:
        token = UrlToken(kind, campaign.id, link_no, minted_at, subject, named)
        return f"{base}/{prefix}/{runtime.signer.sign(token)}"

    register, rank = runtime.hasher.position(campaign.id, recipient_id)
    await aggregates_db.upsert_registers(
        conn, {aggregates_db.RegisterKey(campaign.id, AUDIENCE_SKETCH, register): rank}
    )
    return MintedUrls(
        pixel=url("o", Kind.OPEN, 0, subject, named) + ".gif",
        links={target: url("c", Kind.CLICK, no, subject, named) for target, no in numbers.items()},
        consent=url("consent", Kind.CONSENT, 0, recipient_id, True),
        named=named,
        honeypot=url("c", Kind.CLICK, honeypot_link, subject, named) if honeypot_link else None,
    )
