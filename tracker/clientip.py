"""The client's address: the socket peer, or X-Forwarded-For behind a trusted proxy.

Every pixel and click asks, so the trusted networks are turned into integer ranges once
(``TrustedProxies``) and addresses are read with ``inet_pton`` (``parse_address``), which
takes only the plain dotted and colon forms: anything else in a hop stops the walk.
"""

from collections.abc import Sequence

from tracker.ipranges import Address, parse_address
from tracker.settings import IPNetwork

__all__ = ["TrustedProxies", "client_address"]


class TrustedProxies:
    """The networks whose X-Forwarded-For is believed (``TRACKER_TRUSTED_PROXIES``)."""

    def __init__(self, networks: Sequence[IPNetwork]) -> None:
        self._ranges = tuple(
            (
                network.version,
                int(network.network_address),
                int(network.broadcast_address),
            )
            for network in networks
        )
        self._peers: dict[str, bool] = {}

    def __bool__(self) -> bool:
        return bool(self._ranges)

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str:
        """Walk X-Forwarded-For from the right while the hop is a trusted proxy."""
        address = peer or ""
        if not self._ranges or not forwarded_for or not self._peer_is_trusted(address):
            return address
        for hop in reversed(forwarded_for.split(",")):
            hop = hop.strip()
            parsed = parse_address(hop)
            if parsed is None:
                return address  # a malformed hop: stop at the last address we could trust
            address = hop
            if not self.trusts(parsed):
                break
        return address

    def trusts(self, address: Address) -> bool:
        version, value = address
        for network_version, low, high in self._ranges:
            if network_version == version and low <= value <= high:
                return True
        return False

    def _peer_is_trusted(self, peer: str) -> bool:
        """Remembered per peer: a server sees few of them (its proxies), and every request."""
        known = self._peers.get(peer)
        if known is None:
            if len(self._peers) >= 10_000:
                self._peers.clear()
            parsed = parse_address(peer)
            known = self._peers[peer] = parsed is not None and self.trusts(parsed)
        return known


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> str:
    """``TrustedProxies(trusted).client_address``, for a caller that asks once."""
    return TrustedProxies(trusted).client_address(peer, forwarded_for)
