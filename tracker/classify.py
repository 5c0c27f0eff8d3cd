"""Telling machine requests from human ones.

This is the interface every caller uses (the recorder, the consent POST, ``tracker
classify``): build a ``RequestFacts``, call ``Classifier.classify``, get a ``Verdict`` of
``human``, ``proxy`` (a mailbox provider fetching for a person who opened the mail) or
``machine``, with reason codes from the fixed vocabulary ``REASONS``.

The signals live in their own modules: ``tracker.useragents`` (who the User-Agent says is
asking), ``tracker.ipranges`` (published networks of Apple, Microsoft, mail gateways and
clouds), ``tracker.behaviour`` (bursts, multi-link runs and the honeypot, across requests).
How they combine:

- A machine reason makes the verdict ``machine``; else a proxy reason makes it ``proxy``.
- Mail clients and image proxies are recognised before any bot list, and neither they nor
  Apple's Private Relay addresses are judged by their network: their traffic legitimately
  comes from providers' networks, many people at once.
- An open with the bare ``Mozilla/5.0`` user agent from Private Relay is Apple Mail Privacy
  Protection (``proxy``, ``apple_mpp``); a click from Private Relay is a person's.
- Microsoft's and mail gateways' networks mark clicks only: Outlook on the web fetches
  images through Microsoft, so an open from there is a person's.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tracker.behaviour import Behaviour, Key, Remark, Thresholds
from tracker.ipranges import Address, AddressRanges, network_of, parse_address
from tracker.useragents import AgentKind, UserAgents

if TYPE_CHECKING:
    from tracker.settings import Settings

__all__ = [
    "HEADERS_READ",
    "REASONS",
    "Classifier",
    "Remark",
    "RequestFacts",
    "Thresholds",
    "Verdict",
]

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

_AGENT_REASONS: dict[AgentKind, str] = {
    "none": "no_user_agent",
    "http_library": "http_library",
    "crawler": "crawler",
    "security_scanner": "security_scanner",
}
# Headers browsers send when they fetch ahead of the person: Chrome's Purpose and
# Sec-Purpose (prefetch, prerender), Firefox's X-Moz, Safari's X-Purpose (preview).
_PREFETCH_HEADERS = ("purpose", "sec-purpose", "x-purpose", "x-moz")
# Every header ``classify`` reads from ``RequestFacts.headers`` (the user agent comes as ``ua``).
HEADERS_READ = ("user-agent", *_PREFETCH_HEADERS)
_PREFETCH_WORDS = ("prefetch", "prerender", "preview")


@dataclass(slots=True)  # not frozen: built for every request, and frozen init costs 5x
class RequestFacts:
    """One request, as the classifier sees it.

    ``headers`` is read by lower-case names (Starlette's ``Headers``, or a dict with
    lower-case keys). The rest is optional and feeds the rules across requests, which run
    only when ``campaign`` and ``subject`` are given: ``subject`` is the token's recipient id
    or per-message nonce, ``link`` the link number of a click, ``at`` the request's time in
    seconds (default: now), ``honeypot`` whether the link is the invisible honeypot one.
    """

    ua: str | None
    ip: str
    method: str
    kind: Literal["open", "click"]
    seconds_since_send: float | None
    headers: Mapping[str, str]
    campaign: Key | None = None
    subject: Key | None = None
    link: Key | None = None
    at: float | None = None
    honeypot: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: Literal["human", "proxy", "machine"]
    reasons: tuple[str, ...] = ()


_HUMAN = Verdict("human")  # immutable: one for every human request


class Classifier:
    """The shipped rules, address ranges and user-agent lists, and the behaviour memory.

    ``Classifier()`` uses the ranges shipped in the package and ``Thresholds()`` (too_fast
    off); ``Classifier.from_settings`` adds the data directory's updated ranges and the
    thresholds of the settings. One instance per process: it keeps the behaviour memory.
    """

    def __init__(
        self,
        *,
        ranges: AddressRanges | None = None,
        agents: UserAgents | None = None,
        thresholds: Thresholds | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ranges = ranges or AddressRanges()
        self.agents = agents or UserAgents()
        self.thresholds = thresholds or Thresholds()
        self.behaviour = Behaviour(self.thresholds)
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: "Settings") -> "Classifier":
        return cls(
            ranges=AddressRanges(settings.data_dir / "ranges"),
            thresholds=Thresholds.from_settings(settings),
        )

    def classify(self, facts: RequestFacts) -> Verdict:
        agent = self.agents.kind_of(facts.ua)
        address = parse_address(facts.ip)
        self.ranges.refresh_if_due()
        apple = address is not None and address in self.ranges.apple.table
        machine = self._shape_reasons(facts)
        if agent in _AGENT_REASONS:
            machine.append(_AGENT_REASONS[agent])
        proxy = []
        if agent == "image_proxy":
            proxy.append("image_proxy")
        elif agent == "bare" and apple and facts.kind == "open":
            proxy.append("apple_mpp")
        vouched = apple or agent in ("mail_client", "image_proxy")
        if address is not None and not vouched:
            machine += self._address_reasons(address, facts.kind)
        limit = self.thresholds.too_fast_seconds
        since = facts.seconds_since_send
        if facts.kind == "click" and since is not None and since < limit:
            machine.append("too_fast")
        if facts.campaign is not None and facts.subject is not None:
            burst_network = None if vouched or proxy or address is None else network_of(address)
            machine += self.behaviour.observe(
                campaign=facts.campaign,
                subject=facts.subject,
                at=self.clock() if facts.at is None else facts.at,
                kind=facts.kind,
                link=facts.link,
                network=burst_network,
                honeypot=facts.honeypot,
            )
        elif facts.honeypot:
            machine.append("honeypot")
        if machine:
            return Verdict("machine", tuple(dict.fromkeys(machine + proxy)))
        if proxy:
            return Verdict("proxy", tuple(proxy))
        return _HUMAN

    def take_remarks(self) -> list[Remark]:
        """Earlier events that later requests showed to be machines', once each."""
        return self.behaviour.take_remarks()

    def _shape_reasons(self, facts: RequestFacts) -> list[str]:
        reasons = []
        if facts.method == "HEAD":
            reasons.append("head_request")
        headers = facts.headers
        for name in _PREFETCH_HEADERS:
            value = headers.get(name)
            if value and any(word in value.lower() for word in _PREFETCH_WORDS):
                reasons.append("prefetch_header")
                break
        return reasons

    def _address_reasons(self, address: Address, kind: str) -> list[str]:
        ranges = self.ranges
        microsoft = address in ranges.microsoft.table
        reasons = []
        if kind == "click" and (microsoft or address in ranges.gateways.table):
            reasons.append("security_scanner")
        if address in ranges.datacenter.table and not (kind == "open" and microsoft):
            reasons.append("datacenter_ip")
        return reasons
