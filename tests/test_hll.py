"""HyperLogLog sketches: estimates within three standard errors, merge is the union."""

import hashlib
from collections.abc import Iterable

import pytest

from aggregates.hll import REGISTERS, STANDARD_ERROR, SketchHasher, estimate, merge

HASHER = SketchHasher(b"fixed-test-key-for-hll-sketches-0123456789")
CAMPAIGN = 1_234_567


def sketch_of(ids: Iterable[int], campaign_id: int = CAMPAIGN) -> dict[int, int]:
    sketch: dict[int, int] = {}
    for subject in ids:
        register, rank = HASHER.position(campaign_id, subject)
        sketch[register] = max(rank, sketch.get(register, 0))
    return sketch


@pytest.mark.parametrize("n", [0, 1, 10, 1000, 20000])
def test_the_estimate_of_n_distinct_ids_is_within_three_standard_errors(n: int) -> None:
    estimated = estimate(sketch_of(range(n)))

    assert abs(estimated - n) <= 3 * STANDARD_ERROR * n, f"{estimated} for {n}"


def test_adding_the_same_ids_again_does_not_change_the_estimate() -> None:
    once = sketch_of(range(1000))
    twice = sketch_of([*range(1000), *range(1000)])

    assert twice == once


def test_positions_fall_within_the_registers_and_ranks() -> None:
    for subject in range(2000):
        register, rank = HASHER.position(CAMPAIGN, subject)
        assert 0 <= register < REGISTERS
        assert 1 <= rank <= 64 - 12 + 1


def test_the_same_ids_fall_into_unrelated_registers_in_another_campaign() -> None:
    here = [HASHER.position(1, subject)[0] for subject in range(1000)]
    there = [HASHER.position(2, subject)[0] for subject in range(1000)]

    same = sum(a == b for a, b in zip(here, there, strict=True))
    assert same < 10


def test_another_key_gives_unrelated_positions() -> None:
    other = SketchHasher(b"another-key-for-hll-sketches-0123456789ab")
    here = [HASHER.position(CAMPAIGN, subject)[0] for subject in range(1000)]
    there = [other.position(CAMPAIGN, subject)[0] for subject in range(1000)]

    assert sum(a == b for a, b in zip(here, there, strict=True)) < 10


def test_merge_is_the_sketch_of_the_union() -> None:
    left, right = sketch_of(range(0, 6000)), sketch_of(range(4000, 10000))

    merged = merge([left, right])

    assert merged == sketch_of(range(10000))
    assert abs(estimate(merged) - 10000) <= 3 * STANDARD_ERROR * 10000


def test_merge_keeps_the_largest_rank_per_register() -> None:
    assert merge([{1: 3, 2: 5}, {1: 4, 3: 1}, {2: 2}]) == {1: 4, 2: 5, 3: 1}


def test_merge_is_commutative_and_idempotent() -> None:
    a, b = sketch_of(range(500)), sketch_of(range(300, 900))

    assert merge([a, b]) == merge([b, a])
    assert merge([a, a]) == a
    assert merge([a]) == a
    assert merge([]) == {}
    assert merge([a, {}]) == a


def test_merge_does_not_change_its_inputs() -> None:
    a, b = sketch_of(range(100)), sketch_of(range(50, 150))
    a_before, b_before = dict(a), dict(b)

    merge([a, b])

    assert (a, b) == (a_before, b_before)


def test_disjoint_sets_merge_to_about_the_sum_of_their_estimates() -> None:
    a, b = sketch_of(range(3000)), sketch_of(range(3000, 5000))

    assert abs(estimate(merge([a, b])) - 5000) <= 3 * STANDARD_ERROR * 5000


@pytest.mark.parametrize("campaign_id, subject", [(1, 1), (CAMPAIGN, 2**64 - 1), (2**63, 42)])
def test_positions_follow_the_documented_hash_so_stored_sketches_stay_valid(
    campaign_id: int, subject: int
) -> None:
    """Registers already in the database were written with this hash: it must not drift."""
    digest = hashlib.blake2b(
        campaign_id.to_bytes(8, "big") + subject.to_bytes(8, "big"),
        digest_size=8,
        key=b"fixed-test-key-for-hll-sketches-0123456789",
    ).digest()
    value = int.from_bytes(digest, "big")
    rest = value & ((1 << 52) - 1)

    assert HASHER.position(campaign_id, subject) == (value >> 52, 52 - rest.bit_length() + 1)
