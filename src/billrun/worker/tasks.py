"""Thin Celery tasks: each one calls a use case of :mod:`billrun.billing`. All are safe to deliver twice."""

from __future__ import annotations

import datetime as dt
import uuid

import structlog
from celery import Task, shared_task
from sqlalchemy.exc import OperationalError

from billrun.billing import backtests, recalculation, travel, triggers, webhook_delivery
from billrun.billing.chunk import execute_chunk
from billrun.store.db import connection_lost

log = structlog.get_logger(__name__)


class BillingTask(Task):
    """Cross-cutting behaviour: late acks (set app-wide), and a log line with the task's arguments when it
    fails; transactions live in the use cases."""

    abstract = True

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple[object, ...], kwargs: dict[str, object], einfo: object
    ) -> None:
        log.error("task failed", task=self.name, task_id=task_id, task_args=repr(args)[:500], error=str(exc))


@shared_task(name="billrun.tick", base=BillingTask)
def tick() -> dict[str, int]:
    """Beat entry (SPEC §6.2): discovery, catch-up, claim and fan-out."""
    report = triggers.tick()
    return {"schedules": report.schedules, "claimed": report.claimed}


#: Claim tokens are derived from the task id, so that the same task, retried or redelivered, takes back the
#: runs it had claimed instead of leaving them to wait for their lease.
_CLAIM_TOKENS = uuid.UUID("5d3f6a52-9b1c-4c2e-8f0a-6e2b7c9d1a40")


@shared_task(name="billrun.execute_billing_runs", base=BillingTask, bind=True, max_retries=20)
def execute_billing_runs(self: Task, run_ids: list[str], trigger: str | None = None) -> list[str]:
    """A chunk of runs: inputs loaded set-based once, then each run exactly once (SPEC §6.3). When the
    database goes away mid-chunk (a restart, a failover), the task retries within seconds: a blip delays
    billing by about as long as it lasts, not by a lease."""
    token = uuid.uuid5(_CLAIM_TOKENS, self.request.id) if self.request.id else None
    try:
        outcomes = execute_chunk([uuid.UUID(r) for r in run_ids], trigger, token=token)
    except Exception as exc:
        if not connection_lost(exc):
            raise
        delay = min(10, 2**self.request.retries)
        log.warning("database unavailable; retrying the chunk", error=str(exc).splitlines()[0], retry_in=delay)
        raise self.retry(exc=exc, countdown=delay) from exc
    return [o.status for o in outcomes]


@shared_task(name="billrun.execute_schedule", base=BillingTask)
def execute_schedule(schedule_id: str, as_of_date: str | None = None) -> list[str]:
    """The manual trigger as a task (SPEC §6.4)."""
    as_of = dt.date.fromisoformat(as_of_date) if as_of_date else None
    _, run_ids = triggers.execute_schedule(uuid.UUID(schedule_id), as_of)
    return [str(r) for r in run_ids]


@shared_task(
    name="billrun.advance_time_traveller",
    base=BillingTask,
    autoretry_for=(OperationalError,),
    retry_backoff=1,
    retry_backoff_max=30,
    max_retries=8,
)
def advance_time_traveller(traveller_id: str) -> None:
    """Safe to repeat: a deadlock or a lost connection retries the whole pass (runs already COMPLETED are
    skipped), so a traveller is never left IN_PROGRESS by a transient error."""
    travel.advance(uuid.UUID(traveller_id))


@shared_task(name="billrun.recalculate_pending", base=BillingTask)
def recalculate_pending() -> int:
    return recalculation.process_pending()


@shared_task(name="billrun.deliver_webhooks", base=BillingTask)
def deliver_webhooks() -> dict[str, int]:
    """Safe to run concurrently and twice: deliveries are claimed under a lease, skipping each other's."""
    report = webhook_delivery.run()
    return {"delivered": report.delivered, "retrying": report.retrying, "failed": report.failed}


@shared_task(name="billrun.run_backtest", base=BillingTask)
def run_backtest(backtest_id: str) -> None:
    """One step of a pricing backtest, on the ``backtests`` queue; it queues the next (billing.backtests)."""
    backtests.run_task(uuid.UUID(backtest_id))
