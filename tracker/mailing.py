"""Preparing a mail for one recipient: minting its URLs and rewriting its HTML.

Rewriting takes two passes over the HTML: the first finds the link targets, which are
registered (new ones get link numbers) and minted together with the pixel, the consent URL
and the campaign's honeypot link; the second puts the tracked URLs in.
"""

from dataclasses import dataclass
from datetime import datetime

from tracker import db
from tracker.database import Connection
from tracker.minting import mint
from tracker.rewrite import rewrite_html
from tracker.runtime import Runtime

__all__ = ["HONEYPOT_PATH", "RewrittenMail", "rewrite_for"]

HONEYPOT_PATH = "/nothing-here"


@dataclass(frozen=True)
class RewrittenMail:
    html: str
    named: bool
    links: list[str]


async def rewrite_for(
    conn: Connection,
    runtime: Runtime,
    *,
    campaign: db.Campaign,
    email: str,
    html: str,
    lang: str,
    now: datetime,
) -> RewrittenMail:
    """The mail's HTML with tracked links, pixel, honeypot and consent footer (one
    transaction, the caller's)."""
    found = rewrite_html(
        html, track=lambda target: None, pixel_url="", honeypot_url="", consent_url="", lang=lang
    )
    honeypot = await db.ensure_honeypot_link(
        conn, campaign.id, runtime.settings.base_url + HONEYPOT_PATH
    )
    minted = await mint(
        conn,
        runtime,
        campaign=campaign,
        email=email,
        link_urls=found.links,
        honeypot_link=honeypot,
        now=now,
    )
    assert minted.honeypot is not None
    result = rewrite_html(
        html,
        track=minted.links.get,
        pixel_url=minted.pixel,
        honeypot_url=minted.honeypot,
        consent_url=minted.consent,
        lang=lang,
    )
    return RewrittenMail(result.html, minted.named, result.links)
