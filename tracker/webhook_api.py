"""Webhook endpoints in the API, under ``/api/v1/webhooks`` with a ``mailer`` token."""

from datetime import datetime

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tracker import webhooks_db
from tracker.api import ApiError, Caller, read_json
from tracker.errors import InvalidInput
from tracker.ids import format_id, parse_id
from tracker.mailer_api import mailer
from tracker.webhooks import add_webhook, remove_webhook

__all__ = ["webhook_routes"]


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def _webhook_id(request: Request) -> int:
    try:
        return parse_id("whk", request.path_params["webhook"])
    except InvalidInput:
        raise ApiError(404, "there is no such webhook in this account") from None


async def create(request: Request, caller: Caller) -> Response:
    payload = await read_json(request)
    url = payload.get("url") if isinstance(payload, dict) else None
    if not isinstance(url, str):
        raise ApiError(422, "url must be the receiver's https URL", field="url")
    verdicts = payload.get("verdicts", ["human"])
    if not isinstance(verdicts, list) or not all(isinstance(v, str) for v in verdicts):
        raise ApiError(422, 'verdicts must be a list such as ["human"]', field="verdicts")
    hourly_summary = payload.get("hourly_summary", False)
    if not isinstance(hourly_summary, bool):
        raise ApiError(422, "hourly_summary must be true or false", field="hourly_summary")
    try:
        async with _pool(request).acquire() as conn:
            webhook_id, secret = await add_webhook(
                conn, caller.account_id, url, verdicts, hourly_summary=hourly_summary
            )
    except InvalidInput as exc:
        field = "verdicts" if "verdicts" in str(exc) else "url"
        raise ApiError(422, str(exc), field=field) from None
    return JSONResponse(
        {"webhook": format_id("whk", webhook_id), "secret": secret}, status_code=201
    )


async def list_all(request: Request, caller: Caller) -> Response:
    async with _pool(request).acquire() as conn:
        hooks = await webhooks_db.fetch_webhooks(conn, caller.account_id)
    return JSONResponse(
        [
            {
                "webhook": format_id("whk", h.id),
                "url": h.url,
                "verdicts": h.verdicts,
                "hourly_summary": h.hourly_summary,
            }
            for h in hooks
        ]
    )


async def delete(request: Request, caller: Caller) -> Response:
    async with _pool(request).acquire() as conn:
        await remove_webhook(conn, caller.account_id, _webhook_id(request))
    return JSONResponse({"removed": request.path_params["webhook"]})


async def deliveries(request: Request, caller: Caller) -> Response:
    async with _pool(request).acquire() as conn:
        rows = await webhooks_db.fetch_deliveries(
            conn, caller.account_id, _webhook_id(request), 100
        )
    return JSONResponse(
        [
            {
                "id": str(r["id"]),
                "state": r["state"],
                "attempts": r["attempts"],
                "last_status": r["last_status"],
                "last_error": r["last_error"],
            }
            for r in rows
        ]
    )


async def replay(request: Request, caller: Caller) -> Response:
    payload = await read_json(request)
    since = payload.get("since") if isinstance(payload, dict) else None
    try:
        moment = datetime.fromisoformat(str(since))
    except ValueError:
        raise ApiError(422, "since must be an ISO 8601 time with a zone", field="since") from None
    if moment.tzinfo is None:
        raise ApiError(422, "since must be an ISO 8601 time with a zone", field="since")
    async with _pool(request).acquire() as conn:
        count = await webhooks_db.replay_since(
            conn, caller.account_id, _webhook_id(request), moment
        )
    return JSONResponse({"replayed": count})


def webhook_routes() -> list[Route]:
    base = "/api/v1/webhooks"
    return [
        Route(base, mailer(create), methods=["POST"]),
        Route(base, mailer(list_all), methods=["GET"]),
        Route(base + "/{webhook}", mailer(delete), methods=["DELETE"]),
        Route(base + "/{webhook}/deliveries", mailer(deliveries), methods=["GET"]),
        Route(base + "/{webhook}/replay", mailer(replay), methods=["POST"]),
    ]
