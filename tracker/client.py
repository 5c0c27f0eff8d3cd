"""A small Python client for the ``/api/v1`` API.

    async with TrackerClient("https://track.example.org", token) as api:
        campaign = await api.create_campaign("November", ["https://example.org/offer"])
        urls = await api.mint(campaign["campaign"], "ada@example.org")

Errors come back as ``ApiError`` with the HTTP status and, for a 422, the field at fault.
"""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

__all__ = ["ApiError", "TrackerClient", "verify_webhook"]


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.field = field


class TrackerClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api/v1",
            transport=transport,
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}"},
        )

    async def __aenter__(self) -> "TrackerClient":
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **options: Any) -> Any:
        response = await self._http.request(method, path, **options)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"error": response.text}
            raise ApiError(response.status_code, str(body.get("error")), body.get("field"))
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    # mailer
    async def create_campaign(self, name: str, links: Sequence[str] = ()) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", "/campaigns", json={"name": name, "links": list(links)}
        )
        return result

    async def campaigns(self, page_size: int = 50) -> AsyncIterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            page = await self._call("GET", "/campaigns", params=params)
            for item in page["items"]:
                yield item
            cursor = page["next"]
            if cursor is None:
                return

    async def campaign(self, campaign: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/campaigns/{campaign}")
        return result

    async def register_links(self, campaign: str, links: Sequence[str]) -> dict[str, int]:
        result = await self._call(
            "POST", f"/campaigns/{campaign}/links", json={"links": list(links)}
        )
        return dict(result["links"])

    async def mint(
        self, campaign: str, recipient: str, links: Sequence[str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"recipient": recipient}
        if links is not None:
            body["links"] = list(links)
        result: dict[str, Any] = await self._call("POST", f"/campaigns/{campaign}/mint", json=body)
        return result

    async def mint_batch(
        self, campaign: str, recipients: Sequence[str], links: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"recipients": list(recipients)}
        if links is not None:
            body["links"] = list(links)
        result = await self._call("POST", f"/campaigns/{campaign}/mint-batch", json=body)
        return list(result["items"])

    async def rewrite(
        self, campaign: str, recipient: str, html: str, lang: str = "en"
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST",
            f"/campaigns/{campaign}/rewrite",
            json={"recipient": recipient, "html": html, "lang": lang},
        )
        return result

    async def report(self, campaign: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/campaigns/{campaign}/report")
        return result

    async def report_link(self, campaign: str) -> str:
        result = await self._call("POST", f"/campaigns/{campaign}/report-link")
        return str(result["url"])

    async def import_consents(self, consents: Sequence[dict[str, Any]]) -> dict[str, int]:
        result = await self._call("POST", "/consents/import", json={"consents": list(consents)})
        return {"imported": int(result["imported"]), "skipped": int(result["skipped"])}

    # dpo
    async def export_consents(self, fmt: str = "json") -> Any:
        return await self._call("GET", "/dpo/consents", params={"format": fmt})

    async def access(self, email: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/dpo/access", json={"email": email})
        return result

    async def erase(self, email: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/dpo/erase", json={"email": email})
        return result

    async def verify_ledger(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/dpo/verify-ledger")
        return result


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a webhook's Standard Webhooks signature and return its payload.

    ``headers`` must give ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
    (names in lower case, as most frameworks give them). Raises ``ValueError`` if the
    signature does not match or the timestamp is more than ``tolerance_seconds`` away.

        payload = verify_webhook(SECRET, request.headers, await request.body())
    """
    message_id = headers["webhook-id"]
    timestamp = int(headers["webhook-timestamp"])
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        raise ValueError("the webhook's timestamp is too far from now")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    offered = [
        part.split(",", 1)[1]
        for part in headers["webhook-signature"].split()
        if part.startswith("v1,")
    ]
    if not any(hmac.compare_digest(expected, signature) for signature in offered):
        raise ValueError("the webhook's signature does not match")
    payload: dict[str, Any] = json.loads(body)
    return payload
