"""The recipient's consent page: ``GET`` shows it, ``POST`` grants or withdraws.

Nothing is ever changed by a GET or HEAD: security scanners fetch every link in a mail.
Some even submit forms, so a grant must also carry a valid form token, pass the machine
classification and come at least ``min_seconds`` after the page was shown; otherwise it is
logged in the ledger as refused and the page asks the person to press the button again.
"""

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from consent import ledger
from consent.formguard import BadForm, FormGuard
from consent.i18n import MESSAGES, choose_language
from consent.ratelimit import RateLimiter
from consent.texts import LANGUAGES, ShownText, current_text
from tracker import db
from tracker.classify import Classifier, RequestFacts
from tracker.clientip import TrustedProxies
from tracker.database import Connection
from tracker.redirect import not_found_page
from tracker.settings import IPNetwork
from tracker.tokens import Kind, UrlSigner, UrlToken

__all__ = ["PAGE_HEADERS", "ConsentPage", "record_consent", "serve_stylesheet", "show_consent_page"]

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self';"
    " form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Permissions-Policy": "interest-cohort=(), browsing-topics=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_MAX_FORM_BYTES = 4096
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_STYLESHEETS = {
    name: (Path(__file__).parent / "static" / name).read_bytes()
    for name in ("page.css", "report.css")
}


@dataclass
class _Visit:
    token: UrlToken
    text: str  # the URL token as given
    account: db.Account
    lang: str


class ConsentPage:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        signer: UrlSigner,
        classifier: Classifier,
        form_key: bytes,
        evidence_key: bytes,
        min_seconds: float,
        trusted_proxies: tuple[IPNetwork, ...],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self.signer = signer
        self.classifier = classifier
        self.guard = FormGuard(form_key)
        self.evidence_key = evidence_key
        self.min_seconds = min_seconds
        self.trusted_proxies = TrustedProxies(trusted_proxies)
        self.clock = clock
        self.per_token = RateLimiter(limit=10, window=60)
        self.per_network = RateLimiter(limit=60, window=60)

    async def show(self, request: Request) -> Response:
        async with self.pool.acquire() as conn:
            visit = await self._visit(conn, request, request.query_params.get("lang"))
            if visit is None:
                return not_found_page()
            done = request.query_params.get("done")
            notice = (
                MESSAGES[visit.lang].get(f"done_{done}")
                if done in ("granted", "withdrawn")
                else None
            )
            return await self._render(conn, visit, notice=notice, notice_kind="ok")

    async def submit(self, request: Request) -> Response:
        form = await _read_form(request)
        async with self.pool.acquire() as conn:
            visit = await self._visit(conn, request, form.get("lang"))
            if visit is None:
                return not_found_page()
            now = self.clock()
            address = self._address(request)
            if not (
                self.per_token.allow(visit.text, now)
                and self.per_network.allow(_network(address), now)
            ):
                return await self._render(
                    conn, visit, notice=MESSAGES[visit.lang]["too_many"], status=429
                )
            action = form.get("action")
            if action not in ("grant", "withdraw"):
                return await self._render(conn, visit, status=400)
            try:
                seconds = self.guard.seconds_on_page(
                    form.get("csrf", ""), visit.token.subject, visit.text, now
                )
            except BadForm:
                return await self._render(
                    conn, visit, notice=MESSAGES[visit.lang]["expired_form"], status=403
                )
            if action == "withdraw":
                return await self._withdraw(conn, visit, request, seconds)
            return await self._grant(conn, visit, request, seconds, form.get("text", ""))

    async def _grant(
        self, conn: Connection, visit: _Visit, request: Request, seconds: float, text_sha: str
    ) -> Response:
        text = await current_text(conn, visit.account, visit.lang)
        if text is None or text.sha256.hex() != text_sha:
            return await self._render(
                conn, visit, notice=MESSAGES[visit.lang]["expired_form"], status=409
            )
        verdict = self.classifier.classify(
            RequestFacts(
                ua=request.headers.get("user-agent"),
                ip=self._address(request),
                method=request.method,
                kind="click",
                seconds_since_send=None,
                headers=request.headers,
            )
        )
        evidence = self._evidence(request, seconds, verdict.verdict, verdict.reasons)
        at = datetime.now(UTC)
        async with conn.transaction():
            if verdict.verdict == "machine" or seconds < self.min_seconds:
                evidence["refused_because"] = (
                    "machine" if verdict.verdict == "machine" else ("too_fast")
                )
                await ledger.refuse(
                    conn,
                    account=visit.account,
                    recipient_id=visit.token.subject,
                    at=at,
                    evidence=evidence,
                    text=text,
                )
                refused = True
            else:
                await ledger.grant(
                    conn,
                    account=visit.account,
                    recipient_id=visit.token.subject,
                    method="page",
                    at=at,
                    evidence=evidence,
                    text=text,
                )
                refused = False
        if refused:
            return await self._render(
                conn, visit, notice=MESSAGES[visit.lang]["refused"], status=200
            )
        return _done(visit, "granted")

    async def _withdraw(
        self, conn: Connection, visit: _Visit, request: Request, seconds: float
    ) -> Response:
        evidence = self._evidence(request, seconds, None, ())
        async with conn.transaction():
            await ledger.withdraw(
                conn,
                account=visit.account,
                recipient_id=visit.token.subject,
                method="page",
                at=datetime.now(UTC),
                evidence=evidence,
                lang=visit.lang,
            )
        return _done(visit, "withdrawn")

    async def _visit(self, conn: Connection, request: Request, lang: str | None) -> _Visit | None:
        text = request.path_params["token"]
        try:
            token = self.signer.verify(text)
        except Exception:
            return None
        if token.kind is not Kind.CONSENT:
            return None
        recipient = await db.fetch_recipient(conn, token.subject)
        if recipient is None or recipient.email_ciphertext is None:
            return None  # unknown, or erased: nothing left to consent about
        account = await db.fetch_account(conn, recipient.account_id)
        if account is None:
            return None
        chosen = choose_language(lang, request.headers.get("accept-language"))
        return _Visit(token, text, account, chosen)

    async def _render(
        self,
        conn: Connection,
        visit: _Visit,
        *,
        notice: str | None = None,
        notice_kind: str = "error",
        status: int = 200,
    ) -> Response:
        t = MESSAGES[visit.lang]
        text = await current_text(conn, visit.account, visit.lang)
        status_now = await ledger.current_status(conn, visit.token.subject, datetime.now(UTC))
        expires = f"{status_now.expires_at:%Y-%m-%d}" if status_now.expires_at else ""
        action = "withdraw" if status_now.state == "granted" else ("grant" if text else None)
        html = _TEMPLATES.get_template("page.html").render(
            lang=visit.lang,
            other_lang=next(lang for lang in LANGUAGES if lang != visit.lang),
            t=t,
            controller=visit.account.controller,
            state=status_now.state,
            state_text=t[f"state_{status_now.state}"].format(expires=expires),
            notice=notice,
            notice_kind=notice_kind,
            text=text,
            blocks=_blocks(text) if text else [],
            version_line=t["version"].format(version=text.version, sha=text.sha256.hex())
            if text
            else "",
            action=action,
            button=t[action] if action else "",
            csrf=self.guard.issue(visit.token.subject, visit.text, self.clock()),
            text_sha=text.sha256.hex() if text else "",
        )
        return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)

    def _address(self, request: Request) -> str:
        peer = request.client.host if request.client else None
        return self.trusted_proxies.client_address(peer, request.headers.get("x-forwarded-for"))

    def _evidence(
        self, request: Request, seconds: float, verdict: str | None, reasons: tuple[str, ...]
    ) -> dict[str, Any]:
        """What proves the action without keeping the address or user agent in clear."""
        address = self._address(request)
        agent = request.headers.get("user-agent", "")
        evidence: dict[str, Any] = {
            "page": "consent",
            "seconds_on_page": round(seconds, 1),
            "address_hmac": _keyed(self.evidence_key, address),
            "user_agent_hmac": _keyed(self.evidence_key, agent),
        }
        if verdict is not None:
            evidence["verdict"] = verdict
            evidence["reasons"] = list(reasons)
        return evidence


async def show_consent_page(request: Request) -> Response:
    page: ConsentPage = request.app.state.consent_page
    return await page.show(request)


async def record_consent(request: Request) -> Response:
    page: ConsentPage = request.app.state.consent_page
    return await page.submit(request)


async def serve_stylesheet(request: Request) -> Response:
    stylesheet = _STYLESHEETS.get(request.path_params["name"])
    if stylesheet is None:
        return Response(status_code=404)
    return Response(
        stylesheet,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


async def _read_form(request: Request) -> dict[str, str]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            return {}
    pairs = parse_qsl(body.decode("utf-8", errors="replace"), max_num_fields=10)
    return dict(pairs)


def _done(visit: _Visit, what: str) -> Response:
    return RedirectResponse(
        f"/consent/{visit.text}?lang={visit.lang}&done={what}",
        status_code=303,
        headers={"Cache-Control": "no-store"},
    )


def _blocks(text: ShownText) -> list[tuple[str, str]]:
    blocks = []
    for chunk in text.body.split("\n\n"):
        chunk = chunk.strip()
        if chunk.startswith("## "):
            blocks.append(("h", chunk[3:].strip()))
        elif chunk:
            blocks.append(("p", " ".join(chunk.split())))
    return blocks


def _keyed(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def _network(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
