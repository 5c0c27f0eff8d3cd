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
    if not trusted or not forwarded_for or not _is_trusted(_parse(address), trusted):
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        ip = _parse(hop)
        if ip is None:
            return address  # a malformed hop: stop at the last address we could trust
        address = hop
        if not _is_trusted(ip, trusted):
            break
    return address


def _parse(address: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def _is_trusted(ip: IPAddress | None, trusted: Sequence[IPNetwork]) -> bool:
    return ip is not None and any(ip in network for network in trusted)
