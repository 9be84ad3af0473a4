"""Per-credential rate limits (SPEC §3.7): a fixed one-minute window counted in Redis (store.counters), so
every API process shares one count. A batch or CSV upload is one request. ``0`` means unlimited."""

from __future__ import annotations

import time

from billrun.api.errors import ApiError
from billrun.store import counters


def _limited(message: str, now: float) -> ApiError:
    return ApiError(429, "rateLimited", message, headers={"Retry-After": str(max(1, int(60 - now % 60)))})


def check(api_key: str, limit_per_minute: int) -> None:
    """Count this request; raise 429 with ``Retry-After`` once the minute's budget is spent."""
    if limit_per_minute <= 0:
        return
    now = time.time()
    counted = counters.increment([f"billrun:ratelimit:{api_key}:{int(now // 60)}"], 120)
    if counted is not None and counted[0] > limit_per_minute:
        raise _limited(f"more than {limit_per_minute} requests per minute; retry later", now)


#: Failed authentications allowed per minute, per API key and per client address, before any further attempt
#: is refused with 429 without running the (deliberately slow) scrypt check.
FAILED_AUTH_PER_KEY = 10
FAILED_AUTH_PER_ADDRESS = 30


def _failure_keys(api_key: str, address: str, window: int) -> list[str]:
    return [f"billrun:authfail:key:{api_key[:100]}:{window}", f"billrun:authfail:addr:{address}:{window}"]


def check_failed_auth(api_key: str, address: str) -> None:
    """Raise 429 when this key or address has failed authentication too often this minute. Called only when
    a secret must actually be verified, so requests with an already verified secret never pay for it."""
    now = time.time()
    counts = counters.read(_failure_keys(api_key, address, int(now // 60)))
    if counts is not None and (counts[0] >= FAILED_AUTH_PER_KEY or counts[1] >= FAILED_AUTH_PER_ADDRESS):
        raise _limited("too many failed authentications; retry later", now)


def count_failed_auth(api_key: str, address: str) -> None:
    counters.increment(_failure_keys(api_key, address, int(time.time() // 60)), 120)
