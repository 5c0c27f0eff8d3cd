"""The JSON API under ``/api/v1``: bearer tokens with the scopes ``mailer`` and ``dpo``.

A missing or unknown token gets 401, a token of the wrong scope 403, a body that is not
the expected JSON 422 with the field at fault.
"""

import json
from dataclasses import dataclass
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from consent import audit
from consent.importing import import_consents, row_from_mapping
from tracker import accounts
from tracker.accounts import hash_token
from tracker.errors import InvalidInput

__all__ = ["ApiError", "Caller", "api_routes", "authenticate", "read_json"]

_MAX_BODY = 5 * 1024 * 1024


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field

    def response(self) -> Response:
        body: dict[str, Any] = {"error": str(self)}
        if self.field is not None:
            body["field"] = self.field
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


@dataclass(frozen=True)
class Caller:
    account_id: int
    scope: str
    actor: str  # for the audit log: "api:" and the start of the token's hash


async def authenticate(request: Request, *scopes: str) -> Caller:
    """The caller of a valid bearer token with one of ``scopes``; dpo use is audited."""
    header = request.headers.get("authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise ApiError(401, "send an API token as 'Authorization: Bearer TOKEN'")
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as conn:
        found = await accounts.authenticate(conn, token.strip())
    if found is None:
        raise ApiError(401, "the API token is not valid")
    account_id, scope = found
    if scope not in scopes:
        raise ApiError(403, f"this needs a token of scope {' or '.join(scopes)}, not {scope}")
    caller = Caller(account_id, scope, f"api:{hash_token(token.strip()).hex()[:12]}")
    if scope == "dpo":
        async with pool.acquire() as conn:
            await audit.record(
                conn,
                account_id,
                caller.actor,
                "api",
                request=f"{request.method} {request.url.path}",
            )
    return caller


async def read_json(request: Request) -> Any:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            raise ApiError(413, f"the body is larger than {_MAX_BODY} bytes")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "the body is not valid JSON", field="body") from None


async def import_consents_endpoint(request: Request) -> Response:
    try:
        caller = await authenticate(request, "mailer", "dpo")
        payload = await read_json(request)
        items = payload.get("consents") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            raise ApiError(422, 'expected {"consents": [...]}, a non-empty list', field="consents")
        try:
            rows = [row_from_mapping(item, f"consents[{n}]") for n, item in enumerate(items)]
        except InvalidInput as exc:
            raise ApiError(422, str(exc), field=str(exc).split(":")[0]) from None
        pool: asyncpg.Pool = request.app.state.pool
        async with pool.acquire() as conn:
            account = await accounts.get_account(conn, caller.account_id)
            result = await import_consents(conn, request.app.state.directory, account, rows)
    except ApiError as exc:
        return exc.response()
    return JSONResponse({"imported": result.imported, "skipped": result.skipped})


def api_routes() -> list[Route]:
    from tracker.dpo_api import dpo_routes
    from tracker.mailer_api import mailer_routes
    from tracker.openapi import serve_openapi
    from tracker.webhook_api import webhook_routes

    return [
        Route("/api/v1/openapi.json", serve_openapi, methods=["GET"]),
        Route("/api/v1/consents/import", import_consents_endpoint, methods=["POST"]),
        *mailer_routes(),
        *webhook_routes(),
        *dpo_routes(),
    ]
