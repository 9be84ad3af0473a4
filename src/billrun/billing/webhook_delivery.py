"""Delivering the outbox: at least once, signed, retried with backoff, never to a private address.

A pass fans the outbox's rows out into events and deliveries (:func:`billrun.store.webhooks.fan_out`), then
claims due deliveries under a lease (concurrent workers skip each other's), posts them in parallel,
then records every attempt in one transaction. A worker killed mid-pass leaves its deliveries leased: once
the lease has run out, any worker takes them again, and the receiver sees the same ``webhook-id`` twice (it
deduplicates by it; Standard Webhooks' contract). The order of deliveries to one endpoint is not promised:
retries overtake, and workers deliver in parallel. Receivers order by ``createdAt`` and the resource's
``updatedAt``."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import structlog

from billrun import metrics
from billrun.billing import outbox
from billrun.billing.clock import real_now
from billrun.billing.dispatch import dispatcher
from billrun.config import get_settings
from billrun.domain.statuses import DeliveryStatus
from billrun.store import webhooks as repo
from billrun.store.db import unit_of_work
from billrun.webhooks import policy, signing, transport
from billrun.webhooks.sealing import SealingError, unseal

log = structlog.get_logger(__name__)
#: Deliveries claimed per pass, and posted at once (one slow receiver holds one thread, not the pass).
BATCH = 32
THREADS = 8
#: Outbox rows fanned out per pass (a chunk's row holds an event per invoice, 100 by default).
FAN_OUT = 10


@dataclass(frozen=True)
class Report:
    delivered: int
    retrying: int
    failed: int
    budget_spent: bool


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(THREADS, thread_name_prefix="webhook")


def lease() -> dt.timedelta:
    """Long enough for a pass in which every post times out."""
    return dt.timedelta(seconds=get_settings().webhooks_timeout_seconds * math.ceil(BATCH / THREADS) + 5)


def _secrets(claimed: repo.Claimed, now: dt.datetime) -> list[str]:
    secrets = [unseal(claimed.sealed_secret)]
    expires = claimed.previous_secret_expires_at
    if claimed.sealed_previous_secret and expires is not None and expires > now:
        secrets.append(unseal(claimed.sealed_previous_secret))
    return secrets


def _attempt(claimed: repo.Claimed) -> repo.Result:
    settings = get_settings()
    now = real_now()
    body = claimed.body.encode()
    try:
        headers = signing.headers(_secrets(claimed, now), str(claimed.event_id), int(time.time()), body)
    except SealingError as exc:
        answer = transport.Answer(None, 0, error=str(exc))
    else:
        answer = transport.post(
            claimed.url, body, headers, settings.webhooks_timeout_seconds, settings.webhooks_allow_private
        )
    attempts = claimed.attempt_count + 1
    retry_at = None
    if policy.succeeded(answer.status):
        status = DeliveryStatus.DELIVERED
    elif policy.retryable(answer.status) and (retry_at := policy.next_attempt(attempts, now)) is not None:
        status = DeliveryStatus.PENDING
    else:
        status = DeliveryStatus.FAILED
    return repo.Result(
        claimed.delivery_id,
        claimed.endpoint_id,
        now,
        answer.status,
        answer.duration_ms,
        answer.error,
        answer.body,
        status,
        attempts,
        retry_at,
    )


def _log(claimed: Sequence[repo.Claimed], results: Sequence[repo.Result]) -> None:
    for c, r in zip(claimed, results, strict=True):
        fields = {
            "delivery_id": str(r.delivery_id),
            "event_id": str(c.event_id),
            "event_type": c.event_type,
            "endpoint_id": str(c.endpoint_id),
            "attempt": r.attempt_count,
            "http_status": r.http_status,
            "duration_ms": r.duration_ms,
            "outcome": r.status,
        }
        if r.status == DeliveryStatus.DELIVERED:
            log.info("webhook delivered", **fields)
        else:
            log.warning(
                "webhook attempt failed",
                error=r.error,
                next_attempt_at=r.next_attempt_at.isoformat() if r.next_attempt_at else None,
                **fields,
            )
        metrics.incr("billrun_webhook_deliveries_total", label=_outcome(r))


def _outcome(r: repo.Result) -> str:
    if r.status == DeliveryStatus.DELIVERED:
        return "delivered"
    return "retrying" if r.status == DeliveryStatus.PENDING else "failed"


def deliver_due(budget_seconds: float = 30.0) -> Report:
    """Passes over the due deliveries until none is left or ``budget_seconds`` is spent."""
    started = time.monotonic()
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    while time.monotonic() - started < budget_seconds:
        with unit_of_work() as session:
            repo.fan_out(session, FAN_OUT, outbox.finish)
        with unit_of_work() as session:
            claimed = repo.claim_due(session, real_now(), BATCH, lease())
        if not claimed:
            return Report(**counts, budget_spent=False)
        results = list(_pool().map(_attempt, claimed))
        now = real_now()
        with unit_of_work() as session:
            repo.record(session, results)
            repo.endpoints_answered(session, [r.endpoint_id for r in results if r.status == DeliveryStatus.DELIVERED])
            failing = [r.endpoint_id for r in results if r.status != DeliveryStatus.DELIVERED]
            disabled = repo.endpoints_failed(session, failing, now, policy.DISABLE_AFTER)
        for endpoint_id in disabled:
            log.error("webhook endpoint disabled", endpoint_id=str(endpoint_id), reason="failing for 5 days")
        _log(claimed, results)
        for r in results:
            counts[_outcome(r)] += 1
    return Report(**counts, budget_spent=True)


def run() -> Report:
    """The delivery task: deliver what is due, then make sure the next pass happens. A pass that ran out of
    time hands over at once; retries due before the next tick get one delayed wake-up (the dispatcher keeps
    one at a time); later ones are the tick's."""
    report = deliver_due()
    if report.budget_spent:
        dispatcher().deliver_webhooks()
        return report
    with unit_of_work() as session:
        due = repo.next_due(session)
    if due is not None:
        wait = max(1.0, (due - real_now()).total_seconds())
        if wait < get_settings().tick_seconds:
            dispatcher().deliver_webhooks(wait)
    return report


def sweep() -> bool:
    """The tick's backstop: deliveries due whose task was lost (a Redis restart, a dead worker's lease run
    out) are handed to a worker. True when some were."""
    with unit_of_work() as session:
        due = repo.due_count(session, real_now())
    if due:
        dispatcher().deliver_webhooks()
    return due > 0
