"""Across requests: bursts from one network, multi-link runs, the honeypot, and remarks."""

import gc

from tracker.behaviour import Behaviour
from tracker.classify import Classifier, Remark, RequestFacts, Thresholds, Verdict

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/124.0.0.0 Safari/537.36"
)
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.6326; Pro)"
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
T0 = 1_800_000_000.0
NONCES = [0x5EED_0000_0000_0000 + n for n in range(10)]  # anonymous messages


def request(
    subject: int | str,
    at: float,
    *,
    kind: str = "click",
    link: int | None = 1,
    ip: str = "198.51.100.7",
    ua: str = CHROME,
    campaign: int | str = 7,
    honeypot: bool = False,
) -> RequestFacts:
    return RequestFacts(
        ua=ua,
        ip=ip,
        method="GET",
        kind="click" if kind == "click" else "open",
        seconds_since_send=3600.0,
        headers={},
        campaign=campaign,
        subject=subject,
        link=link if kind == "click" else None,
        at=at,
        honeypot=honeypot,
    )


def verdicts(classifier: Classifier, requests: list[RequestFacts]) -> list[Verdict]:
    return [classifier.classify(r) for r in requests]


def test_many_messages_from_one_network_within_seconds_are_a_burst() -> None:
    classifier = Classifier(thresholds=Thresholds(burst_subjects=5, burst_seconds=5.0))
    requests = [  # ten messages from one /24, half a second apart
        request(nonce, T0 + n * 0.5, ip=f"198.51.100.{10 + n}") for n, nonce in enumerate(NONCES)
    ]

    result = verdicts(classifier, requests)

    assert [v.verdict for v in result] == ["human"] * 4 + ["machine"] * 6
    assert result[4] == Verdict("machine", ("burst",))
    remarks = classifier.take_remarks()
    assert [(r.subject, r.reason) for r in remarks] == [(s, "burst") for s in NONCES[:4]]
    assert remarks[0] == Remark(7, NONCES[0], T0, T0, "burst")
    assert classifier.take_remarks() == []  # handed over once


def test_the_same_messages_spread_over_time_or_networks_are_no_burst() -> None:
    classifier = Classifier(thresholds=Thresholds(burst_subjects=5, burst_seconds=5.0))
    slow = [request(s, T0 + n * 2.0) for n, s in enumerate(NONCES[:5])]
    apart = [request(s, T0 + 100, ip=f"198.51.{n}.7") for n, s in enumerate(NONCES[5:])]
    ipv6 = [request(s, T0 + 200, ip=f"2001:db8:{n}::1") for n, s in enumerate(NONCES[:5])]

    assert {v.verdict for v in verdicts(classifier, slow + apart + ipv6)} == {"human"}


def test_one_ipv6_48_counts_as_one_network() -> None:
    classifier = Classifier(thresholds=Thresholds(burst_subjects=3))
    requests = [request(s, T0, ip=f"2001:db8:1:{n}::9") for n, s in enumerate(NONCES[:3])]

    assert verdicts(classifier, requests)[-1] == Verdict("machine", ("burst",))


def test_bursts_from_proxies_and_mail_clients_are_not_machines() -> None:
    classifier = Classifier(thresholds=Thresholds(burst_subjects=3))
    gmail = [request(s, T0, kind="open", ua=GMAIL_PROXY) for s in NONCES[:5]]
    office = [request(s, T0, kind="open", ua=OUTLOOK, ip="203.0.113.9") for s in NONCES[:5]]
    relay = [request(s, T0, kind="open", ua="Mozilla/5.0", ip="104.28.28.1") for s in NONCES]

    result = verdicts(classifier, gmail + office + relay)

    assert {v.verdict for v in result[:5]} == {"proxy"}
    assert {v.verdict for v in result[5:10]} == {"human"}
    assert {v for v in result[10:]} == {Verdict("proxy", ("apple_mpp",))}


def test_one_message_clicking_several_links_within_a_second_is_multi_link() -> None:
    classifier = Classifier(thresholds=Thresholds(multi_link_links=2, multi_link_seconds=1.0))
    nonce = NONCES[0]

    first = classifier.classify(request(nonce, T0, link=1))
    again = classifier.classify(request(nonce, T0 + 0.2, link=1))  # a double click
    second = classifier.classify(request(nonce, T0 + 0.4, link=2))
    later = classifier.classify(request(nonce, T0 + 30, link=3))

    assert (first, again) == (Verdict("human"), Verdict("human"))
    assert second == Verdict("machine", ("multi_link",))
    assert later == Verdict("human")
    assert classifier.take_remarks() == [Remark(7, nonce, T0, T0 + 0.2, "multi_link")]


def test_without_link_numbers_every_click_counts_as_another_link() -> None:
    classifier = Classifier(thresholds=Thresholds(multi_link_links=3))
    result = verdicts(classifier, [request("ada", T0 + n * 0.1, link=None) for n in range(3)])

    assert [v.verdict for v in result] == ["human", "human", "machine"]


def test_the_honeypot_condemns_the_messages_other_events_in_its_window() -> None:
    classifier = Classifier(thresholds=Thresholds(honeypot_seconds=60.0))
    nonce, other = NONCES[:2]
    before = classifier.classify(request(nonce, T0, kind="open"))
    trap = classifier.classify(request(nonce, T0 + 5, link=99, honeypot=True))
    after = classifier.classify(request(nonce, T0 + 20, link=1))
    much_later = classifier.classify(request(nonce, T0 + 500, link=1))
    someone_else = classifier.classify(request(other, T0 + 20, link=1))

    assert before == Verdict("human")
    assert trap == Verdict("machine", ("honeypot",))
    assert after == Verdict("machine", ("honeypot",))
    assert (much_later, someone_else) == (Verdict("human"), Verdict("human"))
    remarks = classifier.take_remarks()
    assert remarks == [Remark(7, nonce, T0 + 5 - 60, T0 + 5, "honeypot")]
    assert remarks[0].key == (7, nonce)


def test_campaigns_are_kept_apart() -> None:
    classifier = Classifier()
    classifier.classify(request("ada", T0, campaign=1, honeypot=True))

    assert classifier.classify(request("ada", T0 + 1, campaign=2)) == Verdict("human")


def test_lines_without_a_message_are_judged_alone() -> None:
    classifier = Classifier(thresholds=Thresholds(burst_subjects=2))
    lone = RequestFacts(CHROME, "198.51.100.7", "GET", "click", 3600.0, {})

    assert verdicts(classifier, [lone, lone, lone]) == [Verdict("human")] * 3


def test_memory_is_bounded_by_the_number_of_tracked_keys() -> None:
    behaviour = Behaviour(Thresholds(tracked=100, remarks=10))
    for n in range(1000):
        behaviour.observe(
            campaign=1,
            subject=n,
            at=T0 + n,
            kind="click",
            link=1,
            network=(4, n),
            honeypot=n % 2 == 0,
        )

    assert len(behaviour._clicks) == 100
    assert len(behaviour._bursts) == 100
    assert len(behaviour._honeypots) == 100
    assert len(behaviour.take_remarks()) == 10
    # The oldest honeypot is forgotten, the newest remembered.
    assert not behaviour._honeypot(1, 0, T0 + 1, hit=False)
    assert behaviour._honeypot(1, 998, T0 + 999, hit=False)


def test_remembered_windows_drop_out_of_the_garbage_collectors_walks() -> None:
    # A server keeps up to Thresholds.tracked windows; each one the collector tracks is
    # walked by every full collection, which pauses all requests meanwhile.
    behaviour = Behaviour(Thresholds())
    for n in range(200):
        behaviour.observe(
            campaign=1,
            subject=n % 7,
            at=T0 + n / 10,
            kind="click",
            link=n % 3 or None,
            network=(4, n % 5),
            honeypot=False,
        )
    assert behaviour.take_remarks()  # flagged events were rewritten too

    gc.collect()
    gc.collect()  # a tuple is let go once its items are: the events first, then the window

    windows = [*behaviour._clicks.values(), *behaviour._bursts.values()]
    assert len(windows) == 12
    assert not any(gc.is_tracked(window) for window in windows)
