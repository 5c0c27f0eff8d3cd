"""The DPO's API, under ``/api/v1/dpo`` with a token of scope ``dpo`` (a mailer gets 403)."""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from consent import audit
from consent.chain import verify_ledger
from consent.export import ExportProgress, export_chunks
from consent.retention import purge
from consent.ropa import build_ropa, render_ropa
from consent.subject import access, erase
from tracker import accounts
from tracker.api import ApiError, Caller, authenticate, read_json
from tracker.errors import NotFound

__all__ = ["dpo_routes"]

Handler = Callable[[Request, Caller], Awaitable[Response]]


def _dpo(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            caller = await authenticate(request, "dpo")
            return await handler(request, caller)
        except ApiError as exc:
            return exc.response()
        except NotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)

    return endpoint


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def _email(request: Request) -> str:
    payload = await read_json(request)
    email = payload.get("email") if isinstance(payload, dict) else None
    if not isinstance(email, str) or not email.strip():
        raise ApiError(422, 'expected {"email": "..."}', field="email")
    return email


async def export_consents(request: Request, caller: Caller) -> Response:
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError(422, "format must be json or csv", field="format")
    vault = request.app.state.directory.vault

    async def body() -> AsyncIterator[str]:
        progress = ExportProgress()
        async with _pool(request).acquire() as conn:
            async for chunk in export_chunks(conn, vault, caller.account_id, fmt, progress):
                yield chunk
            await audit.record(
                conn,
                caller.account_id,
                caller.actor,
                "export-consents",
                format=fmt,
                rows=progress.rows,
            )

    media = "application/json" if fmt == "json" else "text/csv"
    return StreamingResponse(body(), media_type=media)


async def access_request(request: Request, caller: Caller) -> Response:
    email = await _email(request)
    async with _pool(request).acquire() as conn:
        account = await accounts.get_account(conn, caller.account_id)
        data = await access(conn, request.app.state.directory, account, email, caller.actor)
    return JSONResponse(data)


async def erase_request(request: Request, caller: Caller) -> Response:
    email = await _email(request)
    async with _pool(request).acquire() as conn:
        account = await accounts.get_account(conn, caller.account_id)
        result = await erase(conn, request.app.state.directory, account, email, caller.actor)
    return JSONResponse(result)


async def ropa(request: Request, caller: Caller) -> Response:
    async with _pool(request).acquire() as conn:
        account = await accounts.get_account(conn, caller.account_id)
        await audit.record(conn, caller.account_id, caller.actor, "ropa")
    record = build_ropa(account)
    if request.query_params.get("format") == "md":
        return PlainTextResponse(render_ropa(record), media_type="text/markdown")
    return JSONResponse(record)


async def purge_now(request: Request, caller: Caller) -> Response:
    async with _pool(request).acquire() as conn:
        result = await purge(conn, datetime.now(UTC), caller.actor)
    return JSONResponse(result.__dict__)


async def verify(request: Request, caller: Caller) -> Response:
    async with _pool(request).acquire() as conn:
        report = await verify_ledger(conn, caller.account_id)
        await audit.record(conn, caller.account_id, caller.actor, "verify-ledger", ok=report.ok)
    data: dict[str, Any] = {
        "ok": report.ok,
        "rows": report.rows,
        "purged": report.purged,
        "head": report.head.hex(),
    }
    if not report.ok:
        data.update(
            first_bad_seq=report.first_bad_seq,
            first_bad_id=report.first_bad_id,
            problem=report.problem,
        )
    return JSONResponse(data, status_code=200 if report.ok else 409)


async def audit_log(request: Request, caller: Caller) -> Response:
    async with _pool(request).acquire() as conn:
        rows = await audit.list_audit(conn, caller.account_id)
    return JSONResponse(
        [
            {"at": r.at.isoformat(), "actor": r.actor, "action": r.action, "detail": r.detail}
            for r in rows
        ]
    )


def dpo_routes() -> list[Route]:
    base = "/api/v1/dpo"
    return [
        Route(f"{base}/consents", _dpo(export_consents), methods=["GET"]),
        Route(f"{base}/access", _dpo(access_request), methods=["POST"]),
        Route(f"{base}/erase", _dpo(erase_request), methods=["POST"]),
        Route(f"{base}/ropa", _dpo(ropa), methods=["GET"]),
        Route(f"{base}/purge", _dpo(purge_now), methods=["POST"]),
        Route(f"{base}/verify-ledger", _dpo(verify), methods=["GET"]),
        Route(f"{base}/audit", _dpo(audit_log), methods=["GET"]),
    ]
