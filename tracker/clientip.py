"""The client's address: the socket peer, or X-Forwarded-For behind a trusted proxy."""

import ipaddress
from collections.abc import Sequence

from tracker.settings import IPNetwork

__all__ = ["client_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """Walk X-Forwarded-For from the right while the hop is a trusted proxy."""
    address = peer or ""
    if not trusted or not forwarded_for or not _peer_is_trusted(address, trusted):
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        ip = _parse(hop)
        if ip is None:
            return address  # a malformed hop: stop at the last address we could trust
        address = hop
        if not _is_trusted(ip, trusted):
            break
    return address


_trusted_peers: dict[tuple[str, tuple[IPNetwork, ...]], bool] = {}


def _peer_is_trusted(peer: str, trusted: Sequence[IPNetwork]) -> bool:
    """Remembered per peer: a server sees few of them (its proxies), and every request."""
    key = (peer, tuple(trusted))
    known = _trusted_peers.get(key)
    if known is None:
        if len(_trusted_peers) >= 10_000:
            _trusted_peers.clear()
        known = _trusted_peers[key] = _is_trusted(_parse(peer), trusted)
    return known


def _parse(address: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def _is_trusted(ip: IPAddress | None, trusted: Sequence[IPNetwork]) -> bool:
    return ip is not None and any(ip in network for network in trusted)
