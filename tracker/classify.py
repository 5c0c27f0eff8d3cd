"""Telling machine requests from human ones.

This is the interface every caller uses (the recorder, the consent POST, `tracker
classify`). The rules here are the minimal first set: HEAD requests, a missing user agent
and plain HTTP libraries are machines. The reason codes are the fixed vocabulary of the
specification.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["REASONS", "Classifier", "RequestFacts", "Verdict"]

REASONS = (
    "apple_mpp",
    "image_proxy",
    "security_scanner",
    "crawler",
    "http_library",
    "no_user_agent",
    "datacenter_ip",
    "prefetch_header",
    "head_request",
    "too_fast",
    "burst",
    "multi_link",
    "honeypot",
)

_HTTP_LIBRARY = re.compile(
    r"^(curl|wget|python-requests|python-urllib|python-httpx|aiohttp|go-http-client|java/"
    r"|okhttp|libwww-perl|node-fetch|axios|undici|guzzlehttp|ruby|httpie|powershell)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class RequestFacts:
    ua: str | None
    ip: str
    method: str
    kind: Literal["open", "click"]
    seconds_since_send: float | None
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: Literal["human", "proxy", "machine"]
    reasons: tuple[str, ...] = ()


class Classifier:
    def classify(self, facts: RequestFacts) -> Verdict:
        reasons = []
        if facts.method == "HEAD":
            reasons.append("head_request")
        ua = (facts.ua or "").strip()
        if not ua:
            reasons.append("no_user_agent")
        elif _HTTP_LIBRARY.match(ua):
            reasons.append("http_library")
        if reasons:
            return Verdict("machine", tuple(reasons))
        return Verdict("human")
