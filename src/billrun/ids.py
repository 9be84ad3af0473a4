"""Server-generated ids: UUIDv7 (time-ordered, so b-tree inserts stay local and ids sort by creation)."""

from __future__ import annotations

import os
import time
import uuid

_RANDOM_B = (1 << 62) - 1
_RANDOM_A_SHIFT = 68  # the 12 bits of ``rand_a`` are the top bits of the 74 random ones
_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)


def uuid7() -> uuid.UUID:
    """RFC 9562 UUIDv7: 48-bit Unix milliseconds, version 7, 74 random bits."""
    return _compose(time.time_ns() // 1_000_000, int.from_bytes(os.urandom(10), "big"))


def uuid7_many(count: int) -> list[uuid.UUID]:
    """``count`` UUIDv7s of this millisecond, from one read of the random source (a batch of events: one
    ``os.urandom`` call per id cost a tenth of the time an event spends in Python)."""
    ms = time.time_ns() // 1_000_000
    random = os.urandom(10 * count)
    return [_compose(ms, int.from_bytes(random[i : i + 10], "big")) for i in range(0, 10 * count, 10)]


def _compose(ms: int, rand: int) -> uuid.UUID:
    value = (ms & ((1 << 48) - 1)) << 80 | _VERSION_AND_VARIANT
    value |= (rand >> _RANDOM_A_SHIFT & 0xFFF) << 64 | rand & _RANDOM_B
    return uuid.UUID(int=value)
