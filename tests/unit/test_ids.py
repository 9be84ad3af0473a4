"""Server-generated ids (RFC 9562 UUIDv7)."""

from __future__ import annotations

import time

from billrun.ids import uuid7, uuid7_many

RANDOM_BITS = ((1 << 12) - 1) << 64 | (1 << 62) - 1  # rand_a and rand_b


def test_a_batch_of_ids_are_distinct_version_7_uuids_of_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    ids = uuid7_many(5000)
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 5000
    assert {u.version for u in ids} == {7}
    assert {u.variant for u in ids} == {"specified in RFC 4122"}
    assert all(before <= u.int >> 80 <= after for u in ids)
    union, common = 0, RANDOM_BITS
    for u in ids:
        union |= u.int
        common &= u.int
    assert union & RANDOM_BITS == RANDOM_BITS  # each of the 74 random bits is set in some id
    assert common == 0  # and clear in another


def test_ids_made_later_sort_after() -> None:
    first = uuid7()
    time.sleep(0.002)
    assert uuid7_many(3)[0] > first
    assert uuid7() > first
