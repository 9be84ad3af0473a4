"""Server-generated ids (RFC 9562 UUIDv7)."""

from __future__ import annotations

import os
import pickle
import time
import uuid

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


def test_single_ids_are_distinct_version_7_uuids_equal_to_their_parsed_text() -> None:
    ids = [uuid7() for _ in range(3000)]  # more than one pool of random bytes
    assert len(set(ids)) == 3000
    assert {u.version for u in ids} == {7}
    assert all(u == uuid.UUID(str(u)) and hash(u) == hash(uuid.UUID(str(u))) for u in ids)
    assert all(pickle.loads(pickle.dumps(u)) == u for u in ids[:10])


def test_a_forked_child_does_not_reuse_its_parents_random_bytes() -> None:
    uuid7()  # the parent's pool now holds bytes for the ids that follow
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's side
        os.write(write, uuid7().bytes)
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    in_child = uuid.UUID(bytes=os.read(read, 16))
    os.close(read)
    assert in_child.int & RANDOM_BITS != uuid7().int & RANDOM_BITS
