"""``GET /c/{token}``: a 302 to the link's registered target, and nothing else, ever.

A forged, altered, malformed or unknown token gets a 404 page: the target comes only from
the link table, never from the request, so there is no open redirect.
"""

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from tracker.hotpath import peer_of, token_of
from tracker.linkcache import LinkCache
from tracker.tokens import Kind
from tracker.tracking import Tracking

__all__ = ["follow_link", "not_found_page", "serve_nothing_here"]

_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_REDIRECT_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
_NOT_FOUND = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Link not found</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto; padding: 0 1em">
<h1>This link does not work</h1>
<p>The address may have been cut off or changed on its way to you. Please open the link
from the original e-mail again, or contact its sender.</p>
<p lang="de">Dieser Link funktioniert nicht. Bitte öffnen Sie ihn noch einmal aus der
ursprünglichen E-Mail oder wenden Sie sich an den Absender.</p>
</body></html>
"""


def not_found_page() -> Response:
    return HTMLResponse(_NOT_FOUND, status_code=404, headers=_PAGE_HEADERS)


async def follow_link(scope: Scope, receive: Receive, send: Send) -> None:
    """Plain ASGI, like the pixel (see ``tracker.hotpath``)."""
    state = scope["app"].state
    tracking: Tracking = state.tracking
    links: LinkCache = state.links
    token = tracking.verify(token_of(scope), Kind.CLICK)
    link = None if token is None else await links.target(token.campaign_id, token.link_no)
    if token is None or link is None:
        await not_found_page()(scope, receive, send)
        return
    await tracking.record(
        scope["headers"], peer_of(scope), scope["method"], token, honeypot=link.honeypot
    )
    response = RedirectResponse(link.url, status_code=302, headers=_REDIRECT_HEADERS)
    await response(scope, receive, send)


async def serve_nothing_here(request: Request) -> Response:
    """Where the invisible honeypot link leads: only machines ever arrive here."""
    return HTMLResponse(
        "<!doctype html><title>Nothing here</title><p>Nothing here.</p>",
        headers={**_PAGE_HEADERS, "X-Robots-Tag": "noindex"},
    )
