"""Counters in the broker's Redis, shared by every API process (the rate limits of SPEC §3.7). Each call
answers None when Redis is not configured or cannot be reached: a limiter must never take the API down."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import redis

from billrun.config import get_settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def increment(keys: Sequence[str], ttl_seconds: int) -> list[int] | None:
    """Add one to each key, which expires ``ttl_seconds`` after its last increment; the new values."""
    url = get_settings().broker_url
    if not url:
        return None
    try:
        pipe = _client(url).pipeline()
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, ttl_seconds)
        return [int(value) for value in pipe.execute()[::2]]
    except redis.RedisError:
        return None


def read(keys: Sequence[str]) -> list[int] | None:
    url = get_settings().broker_url
    if not url:
        return None
    try:
        values: list[bytes | None] = _client(url).mget(keys)  # type: ignore[assignment]
    except redis.RedisError:
        return None
    return [int(value or 0) for value in values]
