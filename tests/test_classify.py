"""One request at a time: user agent, address, request shape and timing rules."""

from collections.abc import Mapping
from pathlib import Path

import pytest

from tracker.classify import REASONS, Classifier, RequestFacts, Thresholds, Verdict
from tracker.ipranges import AddressRanges

SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/17.1 Safari/605.1.15"
)
APPLE_MAIL = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
IOS_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Mobile/15E148"
)
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.6326; Pro)"
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.3.1"
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/124.0.0.0 Safari/537.36"
)
HOME = "198.51.100.20"  # documentation addresses are in no published range
RELAY_V4 = "104.28.28.1"  # iCloud Private Relay (shipped ranges)
RELAY_V6 = "2606:54c0::1"
EOP = "40.107.22.5"  # Microsoft Exchange Online Protection
EOP_V6 = "2a01:111:f403:c200::5"


def facts(
    ua: str | None = SAFARI,
    ip: str = HOME,
    *,
    kind: str = "open",
    method: str = "GET",
    since: float | None = None,
    headers: Mapping[str, str] | None = None,
    honeypot: bool = False,
) -> RequestFacts:
    assert kind in ("open", "click")
    return RequestFacts(
        ua=ua,
        ip=ip,
        method=method,
        kind="open" if kind == "open" else "click",
        seconds_since_send=since,
        headers=headers or {},
        honeypot=honeypot,
    )


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(thresholds=Thresholds(too_fast_seconds=5.0))


def test_a_browser_from_a_home_address_is_human(classifier: Classifier) -> None:
    assert classifier.classify(facts(SAFARI)) == Verdict("human")
    assert classifier.classify(facts(CHROME, kind="click", since=3600)) == Verdict("human")


@pytest.mark.parametrize("ua", [APPLE_MAIL, IOS_MAIL, OUTLOOK, THUNDERBIRD, "Superhuman"])
def test_mail_clients_are_human_even_where_bot_lists_would_flag_them(
    classifier: Classifier, ua: str
) -> None:
    assert classifier.classify(facts(ua)) == Verdict("human")


@pytest.mark.parametrize("ua", [GMAIL_PROXY, YAHOO_PROXY])
def test_gmail_and_yahoo_image_proxies_are_proxies(classifier: Classifier, ua: str) -> None:
    assert classifier.classify(facts(ua)) == Verdict("proxy", ("image_proxy",))


def test_bare_mozilla_open_from_private_relay_is_apple_mpp(classifier: Classifier) -> None:
    for ip in (RELAY_V4, RELAY_V6, f"::ffff:{RELAY_V4}"):
        assert classifier.classify(facts("Mozilla/5.0", ip)) == Verdict("proxy", ("apple_mpp",))


def test_bare_mozilla_needs_private_relay_and_an_open_to_be_apple_mpp(
    classifier: Classifier,
) -> None:
    assert classifier.classify(facts("Mozilla/5.0", HOME)) == Verdict("human")
    assert classifier.classify(facts(SAFARI, RELAY_V4)) == Verdict("human")


def test_a_click_from_private_relay_is_a_person(classifier: Classifier) -> None:
    click = facts(SAFARI, RELAY_V6, kind="click", since=600)
    assert classifier.classify(click) == Verdict("human")
    bare = facts("Mozilla/5.0", RELAY_V4, kind="click", since=600)
    assert classifier.classify(bare) == Verdict("human")


@pytest.mark.parametrize(
    ("ua", "reason"),
    [
        (None, "no_user_agent"),
        ("   ", "no_user_agent"),
        ("curl/8.5.0", "http_library"),
        ("python-requests/2.32.3", "http_library"),
        ("Go-http-client/1.1", "http_library"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "crawler"),
        ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0.0.0 Safari/537.36", "crawler"),
        ("Barracuda Sentinel (EE)", "security_scanner"),
        ("Mozilla/5.0 (compatible; Proofpoint URL Defense)", "security_scanner"),
    ],
)
def test_user_agents_of_programs_are_machines(
    classifier: Classifier, ua: str | None, reason: str
) -> None:
    assert classifier.classify(facts(ua)) == Verdict("machine", (reason,))


def test_scanner_networks_mark_clicks_but_never_opens(classifier: Classifier) -> None:
    for ip in (EOP, EOP_V6):
        click = classifier.classify(facts(CHROME, ip, kind="click", since=600))
        assert click == Verdict("machine", ("security_scanner",))
        assert classifier.classify(facts(CHROME, ip)) == Verdict("human")


def test_datacenter_addresses_are_machines_unless_a_mail_client_or_proxy_asks(
    tmp_path: Path,
) -> None:
    (tmp_path / "datacenter.txt").write_text("203.0.113.0/24\n2001:db8:dc::/48\n")
    classifier = Classifier(ranges=AddressRanges(tmp_path))

    for ip in ("203.0.113.9", "2001:db8:dc:1::9"):
        assert classifier.classify(facts(CHROME, ip)) == Verdict("machine", ("datacenter_ip",))
    assert classifier.classify(facts(GMAIL_PROXY, "203.0.113.9")).verdict == "proxy"
    assert classifier.classify(facts(OUTLOOK, "203.0.113.9")) == Verdict("human")


def test_mail_gateway_ranges_mark_clicks(tmp_path: Path) -> None:
    (tmp_path / "mail-security-gateways.txt").write_text("# a vendor\n192.0.2.0/25\n")
    classifier = Classifier(ranges=AddressRanges(tmp_path))

    click = classifier.classify(facts(CHROME, "192.0.2.7", kind="click", since=600))
    assert click == Verdict("machine", ("security_scanner",))
    assert classifier.classify(facts(CHROME, "192.0.2.7")) == Verdict("human")
    assert classifier.classify(facts(CHROME, "192.0.2.200", kind="click")) == Verdict("human")


def test_head_requests_are_machines_whoever_sends_them(classifier: Classifier) -> None:
    assert classifier.classify(facts(method="HEAD")) == Verdict("machine", ("head_request",))
    verdict = classifier.classify(facts(GMAIL_PROXY, method="HEAD"))
    assert verdict == Verdict("machine", ("head_request", "image_proxy"))


@pytest.mark.parametrize(
    "headers",
    [
        {"purpose": "prefetch"},
        {"sec-purpose": "prefetch;prerender"},
        {"x-moz": "prefetch"},
        {"x-purpose": "preview"},
    ],
)
def test_prefetch_headers_mark_machines(classifier: Classifier, headers: dict[str, str]) -> None:
    assert classifier.classify(facts(headers=headers)) == Verdict("machine", ("prefetch_header",))


def test_a_click_sooner_than_the_threshold_is_too_fast(classifier: Classifier) -> None:
    assert classifier.classify(facts(kind="click", since=1.5)) == Verdict("machine", ("too_fast",))
    assert classifier.classify(facts(kind="click", since=5.0)) == Verdict("human")
    assert classifier.classify(facts(kind="click", since=None)) == Verdict("human")
    assert classifier.classify(facts(kind="open", since=0.1)) == Verdict("human")


def test_too_fast_is_off_in_the_default_thresholds() -> None:
    assert Classifier().classify(facts(kind="click", since=0.0)) == Verdict("human")


def test_the_honeypot_link_is_a_machine_even_without_a_message(classifier: Classifier) -> None:
    verdict = classifier.classify(facts(kind="click", since=600, honeypot=True))
    assert verdict == Verdict("machine", ("honeypot",))


def test_every_reason_is_in_the_vocabulary_and_listed_once(classifier: Classifier) -> None:
    verdict = classifier.classify(
        facts(None, EOP, kind="click", method="HEAD", since=0, headers={"purpose": "prefetch"})
    )
    assert verdict.verdict == "machine"
    assert len(set(verdict.reasons)) == len(verdict.reasons)
    assert set(verdict.reasons) <= set(REASONS)
    assert set(verdict.reasons) == {
        "head_request",
        "prefetch_header",
        "no_user_agent",
        "security_scanner",
        "too_fast",
    }


def test_an_address_that_is_not_one_is_judged_by_the_rest(classifier: Classifier) -> None:
    assert classifier.classify(facts(SAFARI, "unknown")) == Verdict("human")
    assert classifier.classify(facts(None, "")) == Verdict("machine", ("no_user_agent",))
