"""The mailer's API under ``/api/v1/campaigns``: campaigns, links, mint, rewrite, reports.

Every route needs a token of scope ``mailer``; a campaign of another account is a 404.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aggregates.report import build_report
from tracker import campaigns, db
from tracker.api import ApiError, Caller, authenticate, read_json
from tracker.errors import InvalidInput, NotFound
from tracker.ids import format_id, parse_id
from tracker.mailing import rewrite_for
from tracker.minting import mint
from tracker.reportpage import report_link
from tracker.runtime import Runtime

__all__ = ["MAX_BATCH", "mailer", "mailer_routes"]

MAX_BATCH = 1000
Handler = Callable[[Request, Caller], Awaitable[Response]]


def mailer(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, await authenticate(request, "mailer"))
        except ApiError as exc:
            return exc.response()
        except NotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except InvalidInput as exc:
            return ApiError(422, str(exc), field=_field_of(exc)).response()

    return endpoint


def _field_of(exc: InvalidInput) -> str:
    text = str(exc)
    if "link target" in text:
        return "links"
    if "e-mail" in text:
        return "recipient"
    return "body"


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _campaign(conn: Any, request: Request, caller: Caller) -> db.Campaign:
    label = request.path_params["campaign"]
    try:
        campaign = await db.fetch_campaign(conn, parse_id("cmp", label))
    except InvalidInput:
        campaign = None
    if campaign is None or campaign.account_id != caller.account_id:
        raise NotFound(f"there is no campaign {label} in this account")
    return campaign


def _string(payload: Any, name: str, *, required: bool = True) -> str | None:
    value = payload.get(name) if isinstance(payload, dict) else None
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, f"{name} must be a non-empty string", field=name)
    return value


def _strings(payload: Any, name: str, *, limit: int = MAX_BATCH) -> list[str] | None:
    value = payload.get(name) if isinstance(payload, dict) else None
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(422, f"{name} must be a list of strings", field=name)
    if len(value) > limit:
        raise ApiError(422, f"{name} takes at most {limit} entries", field=name)
    return value


def _lang(payload: Any) -> str:
    lang = _string(payload, "lang", required=False) or "en"
    if lang not in ("de", "en"):
        raise ApiError(422, "lang must be de or en", field="lang")
    return lang


async def create_campaign(request: Request, caller: Caller) -> Response:
    payload = await read_json(request)
    name = _string(payload, "name")
    assert name is not None
    links = _strings(payload, "links") or []
    async with _pool(request).acquire() as conn:
        campaign, numbers = await campaigns.create_campaign(conn, caller.account_id, name, links)
    return JSONResponse(
        {"campaign": format_id("cmp", campaign.id), "links": numbers}, status_code=201
    )


async def list_campaigns(request: Request, caller: Caller) -> Response:
    try:
        limit = min(max(int(request.query_params.get("limit", "50")), 1), 500)
    except ValueError:
        raise ApiError(422, "limit must be a whole number", field="limit") from None
    cursor = request.query_params.get("cursor")
    try:
        before = parse_id("cmp", cursor) if cursor else None
    except InvalidInput:
        raise ApiError(422, "cursor is not a campaign id", field="cursor") from None
    async with _pool(request).acquire() as conn:
        page = await db.fetch_campaigns_page(conn, caller.account_id, before, limit + 1)
    items = [
        {"campaign": format_id("cmp", c.id), "name": c.name, "created_at": c.created_at.isoformat()}
        for c in page[:limit]
    ]
    more = len(page) > limit
    return JSONResponse({"items": items, "next": items[-1]["campaign"] if more else None})


async def show_campaign(request: Request, caller: Caller) -> Response:
    async with _pool(request).acquire() as conn:
        campaign = await _campaign(conn, request, caller)
        links = await db.fetch_links(conn, campaign.id)
    return JSONResponse(
        {
            "campaign": format_id("cmp", campaign.id),
            "name": campaign.name,
            "created_at": campaign.created_at.isoformat(),
            "links": [{"url": link.url, "link": link.link_no} for link in links],
        }
    )


async def register_links(request: Request, caller: Caller) -> Response:
    payload = await read_json(request)
    links = _strings(payload, "links")
    if not links:
        raise ApiError(422, "links must be a non-empty list of URLs", field="links")
    async with _pool(request).acquire() as conn:
        campaign = await _campaign(conn, request, caller)
        numbers = await campaigns.register_links(conn, campaign.id, links)
    return JSONResponse({"links": numbers})


async def mint_one(request: Request, caller: Caller) -> Response:
    payload = await read_json(request)
    email = _string(payload, "recipient")
    assert email is not None
    links = _strings(payload, "links")
    async with _pool(request).acquire() as conn, conn.transaction():
        campaign = await _campaign(conn, request, caller)
        minted = await mint(
            conn,
            _runtime(request),
            campaign=campaign,
            email=email,
            link_urls=links,
            now=datetime.now(UTC),
        )
    return JSONResponse(minted.as_json())


async def mint_batch(request: Request, caller: Caller) -> Response:
    payload = await read_json(request)
    recipients = _strings(payload, "recipients")
    if not recipients:
        raise ApiError(
            422, "recipients must be a non-empty list of e-mail addresses", field="recipients"
        )
    links = _strings(payload, "links")
    items = []
    async with _pool(request).acquire() as conn, conn.transaction():
        campaign = await _campaign(conn, request, caller)
        now = datetime.now(UTC)
        for email in recipients:
            minted = await mint(
                conn, _runtime(request), campaign=campaign, email=email, link_urls=links, now=now
            )
            items.append({"recipient": email, **minted.as_json()})
    return JSONResponse({"items": items})


async def rewrite_mail(request: Request, caller: Caller) -> Response:
    payload = await read_json(request)
    email = _string(payload, "recipient")
    html = payload.get("html") if isinstance(payload, dict) else None
    if not isinstance(html, str):
        raise ApiError(422, "html must be the mail's HTML as a string", field="html")
    assert email is not None
    async with _pool(request).acquire() as conn, conn.transaction():
        campaign = await _campaign(conn, request, caller)
        mail = await rewrite_for(
            conn,
            _runtime(request),
            campaign=campaign,
            email=email,
            html=html,
            lang=_lang(payload),
            now=datetime.now(UTC),
        )
    return JSONResponse({"html": mail.html, "named": mail.named, "links": mail.links})


async def campaign_report(request: Request, caller: Caller) -> Response:
    async with _pool(request).acquire() as conn:
        campaign = await _campaign(conn, request, caller)
        links = [(link.link_no, link.url) for link in await db.fetch_links(conn, campaign.id)]
        report = await build_report(
            conn,
            campaign_id=campaign.id,
            campaign_label=format_id("cmp", campaign.id),
            links=links,
            k=_runtime(request).settings.k_threshold,
        )
    return JSONResponse(report)


async def create_report_link(request: Request, caller: Caller) -> Response:
    async with _pool(request).acquire() as conn:
        campaign = await _campaign(conn, request, caller)
    url, expires = report_link(_runtime(request), campaign.id)
    return JSONResponse({"url": url, "expires_at": expires.isoformat()}, status_code=201)


def mailer_routes() -> list[Route]:
    base = "/api/v1/campaigns"
    return [
        Route(base, mailer(create_campaign), methods=["POST"]),
        Route(base, mailer(list_campaigns), methods=["GET"]),
        Route(base + "/{campaign}", mailer(show_campaign), methods=["GET"]),
        Route(base + "/{campaign}/links", mailer(register_links), methods=["POST"]),
        Route(base + "/{campaign}/mint", mailer(mint_one), methods=["POST"]),
        Route(base + "/{campaign}/mint-batch", mailer(mint_batch), methods=["POST"]),
        Route(base + "/{campaign}/rewrite", mailer(rewrite_mail), methods=["POST"]),
        Route(base + "/{campaign}/report", mailer(campaign_report), methods=["GET"]),
        Route(base + "/{campaign}/report-link", mailer(create_report_link), methods=["POST"]),
    ]
