"""The client's address: the socket peer, or X-Forwarded-For behind a trusted proxy."""

import ipaddress
from collections.abc import Sequence

from tracker.settings import IPNetwork

__all__ = ["client_address"]


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """Walk X-Forwarded-For from the right while the hop is a trusted proxy."""
    address = peer or ""
    if not trusted or not forwarded_for or not _is_trusted(address, trusted):
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # a malformed hop: stop at the last address we could trust
        address = hop
        if not _is_trusted(hop, trusted):
            break
    return address


def _is_trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
