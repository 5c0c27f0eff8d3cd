"""Published address ranges (Apple's Private Relay, Microsoft's mail filtering, clouds).

Each range set is a text file, one network a line (a CSV line counts by its first field, so
Apple's ``egress-ip-ranges.csv`` reads as it is). The package ships a copy of each under
``tracker/data/ranges/``; ``tracker ranges update`` writes a newer one into the data
directory, which then wins. A set is held as sorted, merged integer intervals per address
family, so a lookup is one bisection. A running server looks at the file's modification time
at most once a second and swaps in the new table, without a restart.
"""

import bisect
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from tracker.errors import InvalidInput

__all__ = [
    "SHIPPED_DIR",
    "SOURCES",
    "Address",
    "AddressRanges",
    "RangeSet",
    "RangeTable",
    "Source",
    "UpdatedRanges",
    "network_of",
    "parse_address",
    "parse_networks",
    "update_ranges",
]

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parent / "data" / "ranges"
Address = tuple[int, int]  # (IP version, the address as an integer)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Source:
    name: str
    filename: str
    what: str


SOURCES = {
    source.name: source
    for source in (
        Source("apple", "apple-private-relay.txt", "Apple iCloud Private Relay egress"),
        Source("microsoft", "microsoft-eop.txt", "Microsoft Exchange Online Protection"),
        Source("gateways", "mail-security-gateways.txt", "mail security gateways"),
        Source("datacenter", "datacenter.txt", "cloud and hosting networks"),
    )
}


def parse_address(text: str) -> Address | None:
    """The version and integer of an IPv4 or IPv6 address; None for anything else.

    An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) counts as the IPv4 address.
    """
    try:
        if ":" not in text:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except (OSError, ValueError):
        return None
    if value >> 32 == 0xFFFF:
        return 4, value & 0xFFFFFFFF
    return 6, value


def network_of(address: Address) -> Address:
    """The /24 of an IPv4 address or the /48 of an IPv6 one: what one site typically holds."""
    version, value = address
    return (4, value >> 8) if version == 4 else (6, value >> 80)


class RangeTable:
    """Merged, sorted intervals of one range set, looked up by bisection."""

    __slots__ = ("_ends", "_starts", "count")

    def __init__(self, networks: Iterable[Network]) -> None:
        intervals: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        count = 0
        for net in networks:
            intervals[net.version].append((int(net.network_address), int(net.broadcast_address)))
            count += 1
        self.count = count
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        for version, spans in intervals.items():
            starts, ends = self._starts.setdefault(version, []), self._ends.setdefault(version, [])
            for start, end in sorted(spans):
                if ends and start <= ends[-1] + 1:
                    ends[-1] = max(ends[-1], end)
                else:
                    starts.append(start)
                    ends.append(end)

    def __contains__(self, address: Address) -> bool:
        version, value = address
        starts = self._starts[version]
        i = bisect.bisect_right(starts, value) - 1
        return i >= 0 and value <= self._ends[version][i]


def parse_networks(lines: Iterable[str], where: str) -> list[Network]:
    """Networks from text lines; a bad line raises InvalidInput naming ``where`` and its number.

    Blank lines and ``#`` comments are skipped; of a CSV line only the first field counts;
    a bare address is a network of one.
    """
    networks = []
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].split(",", 1)[0].strip()
        if not line:
            continue
        try:
            networks.append(ipaddress.ip_network(line))
        except ValueError as exc:
            message = f"{where}, line {number}: {line[:60]!r} is not a network ({exc})"
            raise InvalidInput(message) from None
    return networks


@lru_cache(maxsize=16)
def _load(path: Path, mtime_ns: int, size: int) -> RangeTable:
    """A parsed file, kept while it is unchanged (the key carries its mtime and size)."""
    with path.open(encoding="utf-8") as lines:
        return RangeTable(parse_networks(lines, str(path)))


class RangeSet:
    """One source's table: the data directory's copy if there is one, else the shipped one."""

    def __init__(
        self,
        source: Source,
        override_dir: Path | None = None,
        *,
        recheck_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.shipped = SHIPPED_DIR / source.filename
        self.override = override_dir / source.filename if override_dir else None
        self.recheck_seconds = recheck_seconds
        self.clock = clock
        self._key: tuple[Path, int, int] | None = None
        self._checked_at = -float("inf")
        self.table = RangeTable(())
        self.refresh()

    def refresh(self) -> None:
        """Swap in the file's current content if it changed since the last look."""
        self._checked_at = self.clock()
        key = self._current_key()
        if key == self._key:
            return
        self._key = key  # a broken file is reported once, not every second
        try:
            self.table = _load(*key)
        except (OSError, InvalidInput) as exc:
            log.warning("keeping the %s ranges in use: %s", self.source.name, exc)

    def refresh_if_due(self) -> None:
        if self.clock() - self._checked_at >= self.recheck_seconds:
            self.refresh()

    def _current_key(self) -> tuple[Path, int, int]:
        for path in (self.override, self.shipped):
            if path is None:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            return path, stat.st_mtime_ns, stat.st_size
        return self.shipped, 0, 0


class AddressRanges:
    """Every source's range set, refreshed together, at most once a second."""

    def __init__(
        self,
        override_dir: Path | None = None,
        *,
        recheck_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sets = {
            name: RangeSet(source, override_dir, recheck_seconds=recheck_seconds, clock=clock)
            for name, source in SOURCES.items()
        }
        self.apple = self.sets["apple"]
        self.microsoft = self.sets["microsoft"]
        self.gateways = self.sets["gateways"]
        self.datacenter = self.sets["datacenter"]
        self.recheck_seconds = recheck_seconds
        self.clock = clock
        self._checked_at = clock()

    def refresh_if_due(self) -> None:
        """Called per request: one clock reading, and a look at the files once a second."""
        now = self.clock()
        if now - self._checked_at >= self.recheck_seconds:
            self._checked_at = now
            for ranges in self.sets.values():
                ranges.refresh()


@dataclass(frozen=True)
class UpdatedRanges:
    source: str
    path: Path
    networks: int  # as given
    ipv4: int  # as written, neighbours merged
    ipv6: int


def update_ranges(
    data_dir: Path, name: str, file: Path, now: datetime | None = None
) -> UpdatedRanges:
    """Replace one source's ranges in ``data_dir/ranges`` from a downloaded file.

    The whole file is checked first; on any bad line nothing is replaced. The new file is
    written beside the old one and renamed over it, so a reader never sees half of it.
    """
    source = SOURCES.get(name)
    if source is None:
        raise InvalidInput(f"unknown range source {name!r}; use one of {', '.join(SOURCES)}")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {file}: {exc}") from None
    given = parse_networks(text.splitlines(), str(file))
    if not given:
        raise InvalidInput(f"{file} holds no networks; nothing was replaced")
    # Merged, Apple's ~300,000 lines are some 14,000: a server reloads them in a blink.
    ipv4 = list(ipaddress.collapse_addresses(n for n in given if n.version == 4))
    ipv6 = list(ipaddress.collapse_addresses(n for n in given if n.version == 6))
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"# {source.what}: {len(given)} networks from {file.name}, merged,\n"
        f"# written by `tracker ranges update --source {name}` on {stamp}.\n"
    )
    body = "".join(f"{net}\n" for net in [*ipv4, *ipv6])
    target = data_dir / "ranges" / source.filename
    _write_atomically(target, header + body)
    return UpdatedRanges(name, target, len(given), len(ipv4), len(ipv6))


def _write_atomically(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
