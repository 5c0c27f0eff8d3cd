"""From an incoming pixel or link request to a recorded hit.

Shared by the pixel and redirect handlers: verify the token, classify the request, decide
(from the in-process consent cache, failing closed) whether the hit may carry the recipient,
and wait for the recorder to commit it.
"""

import asyncio
import time
from datetime import UTC, datetime
from typing import Literal

from consent.cache import ConsentCache
from tracker.classify import HEADERS_READ, Classifier, RequestFacts
from tracker.clientip import TrustedProxies
from tracker.metrics import Metrics
from tracker.recorder import Hit, Recorder
from tracker.settings import IPNetwork
from tracker.tokens import BadToken, Kind, UrlSigner, UrlToken

__all__ = ["Tracking"]

# The request headers the classifier and the client address read (uvicorn gives names in
# lower case); the rest are never decoded.
_READ_HEADERS = frozenset(name.encode() for name in (*HEADERS_READ, "x-forwarded-for"))


class Tracking:
    def __init__(
        self,
        signer: UrlSigner,
        classifier: Classifier,
        cache: ConsentCache,
        recorder: Recorder,
        trusted_proxies: tuple[IPNetwork, ...],
        metrics: Metrics | None = None,
    ) -> None:
        self.signer = signer
        self.classifier = classifier
        self.cache = cache
        self.recorder = recorder
        self.trusted_proxies = TrustedProxies(trusted_proxies)
        self.bad_tokens = 0
        self.metrics = metrics or Metrics()
        self._requests = self.metrics.tallies.requests
        self._verdicts = self.metrics.tallies.verdicts

    def verify(self, text: str, kind: Kind) -> UrlToken | None:
        """The token if it is genuine and of the expected kind; counts the rest."""
        try:
            token = self.signer.verify(text)
        except BadToken:
            token = None
        if token is None or token.kind is not kind:
            self.bad_tokens += 1
            self.metrics.bad_tokens.inc()
            return None
        return token

    def record(
        self,
        raw_headers: list[tuple[bytes, bytes]],
        peer: str | None,
        method: str,
        token: UrlToken,
        *,
        honeypot: bool = False,
    ) -> "asyncio.Future[None]":
        """Classify the request and queue its hit; await the result to know it committed
        (or spooled). A plain function: every request resumes one coroutine less."""
        kind: Literal["open", "click"] = "open" if token.kind is Kind.OPEN else "click"
        now_ts = time.time()
        headers = _read_headers(raw_headers)
        facts = RequestFacts(
            ua=headers.get("user-agent"),
            ip=self.trusted_proxies.client_address(peer, headers.get("x-forwarded-for")),
            method=method,
            kind=kind,
            seconds_since_send=max(0.0, now_ts - token.minted_at),
            headers=headers,
            campaign=token.campaign_id,
            subject=token.subject,
            link=token.link_no,
            at=now_ts,
            honeypot=honeypot,
        )
        verdict = self.classifier.classify(facts)
        self._requests[kind] += 1
        self._verdicts[verdict.verdict] += 1
        now = datetime.fromtimestamp(now_ts, UTC)
        recipient_id, known = self._recipient_if_consenting(token, now)
        return self.recorder.record(
            Hit(
                campaign_id=token.campaign_id,
                link_no=token.link_no,
                subject=token.subject,
                recipient_id=recipient_id,
                consent_known=known,
                at=now,
                verdict=verdict.verdict,
                reasons=verdict.reasons,
            )
        )

    def _recipient_if_consenting(self, token: UrlToken, now: datetime) -> tuple[int | None, bool]:
        if not token.named:
            return None, True
        cached = self.cache.get(token.subject)
        if cached is None:
            return token.subject, False  # unknown here: the recorder checks in SQL
        return (token.subject if cached.allows(now) else None), True


def _read_headers(raw_headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers of ``_READ_HEADERS``; a repeated one is joined with commas (RFC 9110)."""
    found: dict[str, str] = {}
    for name, value in raw_headers:
        if name in _READ_HEADERS:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            found[key] = f"{found[key]},{text}" if key in found else text
    return found
