"""Server-generated ids: UUIDv7 (time-ordered, so b-tree inserts stay local and ids sort by creation)."""

from __future__ import annotations

import os
import threading
import time
import uuid

_RANDOM_B = (1 << 62) - 1
_RANDOM_A_SHIFT = 68  # the 12 bits of ``rand_a`` are the top bits of the 74 random ones
_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)
_POOL_IDS = 256  # ids' worth of random bytes read at once


class _Entropy:
    """Random bytes read from the OS a pool at a time: a chunk of billing runs makes about ten ids an
    invoice, and one ``os.urandom`` call per id was a fifth of what making one cost. Threads take their
    bytes under a lock (two must never get the same ten); a forked child starts with an empty pool (it must
    not reuse its parent's bytes)."""

    pool: bytes
    at: int
    lock: threading.Lock

    def __init__(self) -> None:
        self.reset()

    def take(self) -> int:
        with self.lock:
            if self.at >= len(self.pool):
                self.pool, self.at = os.urandom(10 * _POOL_IDS), 0
            at = self.at
            self.at = at + 10
            return int.from_bytes(self.pool[at : at + 10], "big")

    def reset(self) -> None:
        self.pool, self.at, self.lock = b"", 0, threading.Lock()


_entropy = _Entropy()
os.register_at_fork(after_in_child=_entropy.reset)


def uuid7() -> uuid.UUID:
    """RFC 9562 UUIDv7: 48-bit Unix milliseconds, version 7, 74 random bits."""
    return _compose(time.time_ns() // 1_000_000, _entropy.take())


def uuid7_many(count: int) -> list[uuid.UUID]:
    """``count`` UUIDv7s of this millisecond, from one read of the random source (a batch of events: one
    ``os.urandom`` call per id cost a tenth of the time an event spends in Python)."""
    ms = time.time_ns() // 1_000_000
    random = os.urandom(10 * count)
    return [_compose(ms, int.from_bytes(random[i : i + 10], "big")) for i in range(0, 10 * count, 10)]


_new_uuid = uuid.UUID.__new__
_set_slot = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown


def _compose(ms: int, rand: int) -> uuid.UUID:
    value = (ms & ((1 << 48) - 1)) << 80 | _VERSION_AND_VARIANT
    value |= (rand >> _RANDOM_A_SHIFT & 0xFFF) << 64 | rand & _RANDOM_B
    # what ``uuid.UUID(int=value)`` stores, without its argument checks (half its cost): the value is in range
    # by construction
    made = _new_uuid(uuid.UUID)
    _set_slot(made, "int", value)
    _set_slot(made, "is_safe", _UNKNOWN)
    return made
