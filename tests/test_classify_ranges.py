"""Range files: lookup, validation, atomic replacement, and reloading without a restart."""

import ipaddress
import os
from pathlib import Path

import pytest

from tracker.classify import Classifier, RequestFacts
from tracker.errors import InvalidInput
from tracker.ipranges import (
    SHIPPED_DIR,
    SOURCES,
    AddressRanges,
    RangeSet,
    RangeTable,
    network_of,
    parse_address,
    parse_networks,
    update_ranges,
)

APPLE_CSV = """\
172.224.224.0/27,GB,GB-EN,London,
172.224.224.32/31,GB,GB-EN,London,
2a02:26f7:b3c0:4000::/64,DE,DE-BE,Berlin,
"""


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def table(*networks: str) -> RangeTable:
    return RangeTable(ipaddress.ip_network(n) for n in networks)


def address(text: str) -> tuple[int, int]:
    parsed = parse_address(text)
    assert parsed is not None
    return parsed


def test_lookup_finds_addresses_at_the_edges_of_merged_ranges() -> None:
    ranges = table("10.0.0.0/25", "10.0.0.128/25", "10.0.2.0/24", "2001:db8::/126")

    inside = ["10.0.0.0", "10.0.0.255", "10.0.2.255", "2001:db8::3"]
    outside = ["9.255.255.255", "10.0.1.0", "10.0.3.0", "2001:db8::4", "::"]
    assert all(address(a) in ranges for a in inside)
    assert not any(address(a) in ranges for a in outside)
    assert ranges.count == 4


def test_addresses_parse_both_families_and_unmap_ipv4_in_ipv6() -> None:
    assert parse_address("192.0.2.1") == (4, 0xC0000201)
    assert parse_address("::ffff:192.0.2.1") == (4, 0xC0000201)
    assert parse_address("2001:db8::1") == (6, 0x20010DB8 << 96 | 1)
    assert [parse_address(bad) for bad in ("", "unknown", "300.1.1.1", "fe80::1%eth0")] == [
        None
    ] * 4
    assert network_of(address("192.0.2.77")) == network_of(address("192.0.2.1"))
    assert network_of(address("2001:db8:5:1::1")) == network_of(address("2001:db8:5:ffff::1"))


def test_every_shipped_range_file_parses() -> None:
    for source in SOURCES.values():
        path = SHIPPED_DIR / source.filename
        parse_networks(path.read_text().splitlines(), str(path))
    apple = RangeSet(SOURCES["apple"])
    assert apple.table.count > 10_000


def test_a_bad_line_names_the_file_and_line() -> None:
    with pytest.raises(InvalidInput, match=r"f\.txt, line 3: '10\.0\.0\.1/24' is not a network"):
        parse_networks(["# comment", "10.0.0.0/24", "10.0.0.1/24"], "f.txt")


def test_update_replaces_the_apple_set_from_apples_csv(tmp_path: Path) -> None:
    downloaded = tmp_path / "egress-ip-ranges.csv"
    downloaded.write_text(APPLE_CSV)

    new = update_ranges(tmp_path / "data", "apple", downloaded)

    assert (new.networks, new.ipv4, new.ipv6) == (3, 2, 1)
    assert new.path == tmp_path / "data" / "ranges" / "apple-private-relay.txt"
    written = RangeSet(SOURCES["apple"], new.path.parent).table
    assert address("172.224.224.33") in written
    assert address("104.28.28.1") not in written  # the shipped copy no longer counts


def test_a_bad_file_replaces_nothing(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("192.0.2.0/24\n")
    bad = tmp_path / "bad.txt"
    bad.write_text("192.0.2.0/24\nnot-a-network\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n")
    update_ranges(tmp_path, "datacenter", good)
    target = tmp_path / "ranges" / "datacenter.txt"
    before = target.read_text()

    with pytest.raises(InvalidInput, match=r"bad\.txt, line 2"):
        update_ranges(tmp_path, "datacenter", bad)
    with pytest.raises(InvalidInput, match="holds no networks"):
        update_ranges(tmp_path, "datacenter", empty)
    with pytest.raises(InvalidInput, match="unknown range source 'aws'"):
        update_ranges(tmp_path, "aws", good)
    with pytest.raises(InvalidInput, match="cannot read"):
        update_ranges(tmp_path, "datacenter", tmp_path / "missing.txt")

    assert target.read_text() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["datacenter.txt"]  # no leftovers


def test_a_running_set_reloads_a_replaced_file_within_its_recheck_time(tmp_path: Path) -> None:
    clock = Clock()
    ranges = RangeSet(SOURCES["datacenter"], tmp_path / "ranges", clock=clock)
    assert address("192.0.2.1") not in ranges.table
    source = tmp_path / "new.txt"
    source.write_text("192.0.2.0/24\n")

    update_ranges(tmp_path, "datacenter", source)
    ranges.refresh_if_due()
    assert address("192.0.2.1") not in ranges.table  # looked less than a second ago
    clock.now += 1.0
    ranges.refresh_if_due()
    assert address("192.0.2.1") in ranges.table

    (tmp_path / "ranges" / "datacenter.txt").unlink()
    clock.now += 1.0
    ranges.refresh_if_due()
    assert address("192.0.2.1") not in ranges.table  # back to the shipped (empty) set


def test_a_broken_file_written_by_hand_keeps_the_ranges_in_use(tmp_path: Path) -> None:
    clock = Clock()
    (tmp_path / "datacenter.txt").write_text("192.0.2.0/24\n")
    ranges = RangeSet(SOURCES["datacenter"], tmp_path, clock=clock)
    broken = tmp_path / "datacenter.txt"
    broken.write_text("192.0.2.0/24\ngarbage\n")
    os.utime(broken, ns=(0, 12345))

    clock.now += 5
    ranges.refresh_if_due()

    assert address("192.0.2.1") in ranges.table


def test_a_classifier_uses_updated_ranges_within_a_second_without_a_restart(
    tmp_path: Path,
) -> None:
    clock = Clock()
    classifier = Classifier(ranges=AddressRanges(tmp_path / "ranges", clock=clock))
    click = RequestFacts("Mozilla/5.0 (X11; Linux x86_64)", "192.0.2.9", "GET", "click", 60, {})
    assert classifier.classify(click).verdict == "human"
    downloaded = tmp_path / "gateways.txt"
    downloaded.write_text("192.0.2.0/24\n")

    update_ranges(tmp_path, "gateways", downloaded)
    clock.now += 1.0

    assert classifier.classify(click).reasons == ("security_scanner",)
