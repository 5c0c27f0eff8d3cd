"""The client's address: the socket peer unless a trusted proxy says otherwise."""

import ipaddress

from tracker.clientip import TrustedProxies, client_address
from tracker.settings import IPNetwork

PROXIES: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("fd00::/8"),
)


def test_the_socket_peer_is_used_when_no_proxy_is_trusted() -> None:
    assert client_address("203.0.113.7", None, ()) == "203.0.113.7"
    assert client_address("203.0.113.7", "198.51.100.1", ()) == "203.0.113.7"
    assert client_address("10.0.0.2", "198.51.100.1", ()) == "10.0.0.2"


def test_a_missing_peer_gives_an_empty_address() -> None:
    assert client_address(None, None, ()) == ""
    assert client_address(None, "198.51.100.1", PROXIES) == ""


def test_x_forwarded_for_is_ignored_when_the_peer_is_not_trusted() -> None:
    assert client_address("203.0.113.7", "198.51.100.1", PROXIES) == "203.0.113.7"
    assert client_address("2001:db8::9", "198.51.100.1", PROXIES) == "2001:db8::9"


def test_the_peer_is_used_when_a_trusted_proxy_sends_no_x_forwarded_for() -> None:
    assert client_address("10.0.0.2", None, PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", "", PROXIES) == "10.0.0.2"


def test_behind_a_trusted_proxy_the_forwarded_client_is_used() -> None:
    assert client_address("10.0.0.2", "198.51.100.1", PROXIES) == "198.51.100.1"


def test_the_rightmost_untrusted_hop_wins_over_spoofed_entries_to_its_left() -> None:
    forwarded = "192.0.2.66, 198.51.100.1, 10.0.0.5"

    assert client_address("10.0.0.2", forwarded, PROXIES) == "198.51.100.1"


def test_the_rightmost_untrusted_ipv6_hop_wins() -> None:
    forwarded = "2001:db8::66, 2001:db8::1, fd00::5"

    assert client_address("fd00::2", forwarded, PROXIES) == "2001:db8::1"
    assert client_address("10.0.0.2", "2001:db8::1", PROXIES) == "2001:db8::1"
    assert client_address("fd00::2", "198.51.100.1", PROXIES) == "198.51.100.1"


def test_when_every_hop_is_trusted_the_leftmost_is_used() -> None:
    assert client_address("10.0.0.2", "10.9.9.9, 10.0.0.5", PROXIES) == "10.9.9.9"


def test_a_malformed_hop_stops_the_walk_at_the_last_good_address() -> None:
    assert client_address("10.0.0.2", "198.51.100.1, garbage", PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", "198.51.100.1, unknown, 10.0.0.5", PROXIES) == "10.0.0.5"
    assert client_address("10.0.0.2", "198.51.100.1:4711", PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", "198.51.100.1,", PROXIES) == "10.0.0.2"


def test_an_ipv4_mapped_peer_counts_as_its_ipv4_address() -> None:
    # A dual-stack socket reports IPv4 proxies this way.
    assert client_address("::ffff:10.0.0.2", "198.51.100.1", PROXIES) == "198.51.100.1"


def test_only_plain_address_spellings_are_hops() -> None:
    for odd in ("198.051.100.1", "0x7f.0.0.1", "fe80::1%eth0", "198.51.100", "[2001:db8::1]"):
        assert client_address("10.0.0.2", odd, PROXIES) == "10.0.0.2", odd


def test_one_trusted_proxies_object_answers_like_the_function() -> None:
    trusted = TrustedProxies(PROXIES)
    forwarded = "192.0.2.66, 198.51.100.1, 10.0.0.5"

    assert trusted.client_address("10.0.0.2", forwarded) == "198.51.100.1"
    assert trusted.client_address("203.0.113.7", forwarded) == "203.0.113.7"
    assert not TrustedProxies(())
