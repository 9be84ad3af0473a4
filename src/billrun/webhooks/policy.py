"""When a delivery is retried, and when an endpoint is given up on."""

from __future__ import annotations

import datetime as dt
import random

#: The waits after the 1st, 2nd, ... failed attempt: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (eight
#: attempts over about 28 hours), as Svix and Standard Webhooks' guidance space them.
BACKOFF = tuple(dt.timedelta(seconds=s) for s in (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600))
MAX_ATTEMPTS = len(BACKOFF) + 1
#: An endpoint that has failed every attempt for this long is disabled.
DISABLE_AFTER = dt.timedelta(days=5)
#: Final answers: the receiver understood and refused; sending the same message again cannot change that.
#: 408 (timeout), 409 (a conflict, often transient) and 429 (slow down) are worth another try.
_RETRIED_CLIENT_ERRORS = frozenset({408, 409, 429})


def succeeded(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def retryable(status: int | None) -> bool:
    """No status (a timeout, a refused connection, a refused address), 5xx, 408, 409, 429. A redirect is not
    followed and not retried: the endpoint's URL is wrong."""
    return status is None or status >= 500 or status in _RETRIED_CLIENT_ERRORS


def next_attempt(attempts: int, now: dt.datetime, rng: random.Random | None = None) -> dt.datetime | None:
    """When to try again after ``attempts`` failed attempts; None once they are spent. Up to 20% of jitter,
    so that the retries of an outage's backlog do not arrive all at once."""
    if attempts >= MAX_ATTEMPTS:
        return None
    wait = BACKOFF[attempts - 1]
    return now + wait * (1 + (rng or random).random() * 0.2)
