"""Per-credential rate limits (SPEC §3.7): a fixed one-minute window counted in Redis, so every API process
shares one count. A batch or CSV upload is one request. ``0`` means unlimited."""

from __future__ import annotations

import time
from functools import lru_cache

import redis

from billrun.api.errors import ApiError
from billrun.config import get_settings


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def check(api_key: str, limit_per_minute: int) -> None:
    """Count this request; raise 429 with ``Retry-After`` once the minute's budget is spent."""
    url = get_settings().broker_url
    if limit_per_minute <= 0 or not url:
        return
    now = time.time()
    window = int(now // 60)
    key = f"billrun:ratelimit:{api_key}:{window}"
    try:
        pipe = _client(url).pipeline()
        pipe.incr(key)
        pipe.expire(key, 120)
        count = int(pipe.execute()[0])
    except redis.RedisError:
        return  # the limiter must never take the API down with it
    if count > limit_per_minute:
        retry_after = max(1, int(60 - now % 60))
        raise ApiError(
            429,
            "rateLimited",
            f"more than {limit_per_minute} requests per minute; retry later",
            headers={"Retry-After": str(retry_after)},
        )


#: Failed authentications allowed per minute, per API key and per client address, before any further attempt
#: is refused with 429 without running the (deliberately slow) scrypt check.
FAILED_AUTH_PER_KEY = 10
FAILED_AUTH_PER_ADDRESS = 30


def _failure_keys(api_key: str, address: str, window: int) -> tuple[str, str]:
    return (f"billrun:authfail:key:{api_key[:100]}:{window}", f"billrun:authfail:addr:{address}:{window}")


def check_failed_auth(api_key: str, address: str) -> None:
    """Raise 429 when this key or address has failed authentication too often this minute. Called only when
    a secret must actually be verified, so requests with an already verified secret never pay for it."""
    url = get_settings().broker_url
    if not url:
        return
    now = time.time()
    try:
        counts: list[bytes | None] = _client(url).mget(_failure_keys(api_key, address, int(now // 60)))  # type: ignore[assignment]
        by_key, by_address = counts
    except redis.RedisError:
        return
    if int(by_key or 0) >= FAILED_AUTH_PER_KEY or int(by_address or 0) >= FAILED_AUTH_PER_ADDRESS:
        raise ApiError(
            429,
            "rateLimited",
            "too many failed authentications; retry later",
            headers={"Retry-After": str(max(1, int(60 - now % 60)))},
        )


def count_failed_auth(api_key: str, address: str) -> None:
    url = get_settings().broker_url
    if not url:
        return
    try:
        pipe = _client(url).pipeline()
        for key in _failure_keys(api_key, address, int(time.time() // 60)):
            pipe.incr(key)
            pipe.expire(key, 120)
        pipe.execute()
    except redis.RedisError:
        return
