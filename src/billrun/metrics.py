"""Operational metrics in the Prometheus text format (SPEC §5.7, §6.6).

Counters are shared by every process (API servers, workers, the beat) through Redis, incremented after the
transaction that caused them commits; gauges are read from PostgreSQL when scraped. ``GET /metrics`` serves
both. A counter is monitoring, not bookkeeping: ``GET /billing-runs?status=FAILED`` is the exact record.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billrun.config import get_settings
from billrun.domain.statuses import RunStatus
from billrun.store import webhooks as webhook_repo
from billrun.store.models import BillingRun, RecalculationRequest, ScheduleRecalculationRequest

log = logging.getLogger(__name__)
COUNTERS = {
    "billrun_billing_runs_failed_total": "Failed billing-run attempts (each is also an ERROR log line).",
    "late_events_for_final_invoices_total": "Accepted events inside the period of a FINAL, SENT or VOIDED invoice.",
    "billrun_webhook_deliveries_total": "Webhook delivery attempts, by outcome (delivered, retrying, failed).",
}
#: counters kept per value of one label (a Redis hash per counter)
LABELS = {"billrun_webhook_deliveries_total": "outcome"}
_PREFIX = "billrun:metrics:"


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def incr(name: str, amount: int = 1, label: str | None = None) -> None:
    """Add to a counter (``label``: the value of its label); a Redis outage loses the increment (logged),
    never the caller's work."""
    assert name in COUNTERS and (label is not None) == (name in LABELS), name
    url = get_settings().broker_url
    if not url:
        return
    try:
        if label is None:
            _client(url).incrby(_PREFIX + name, amount)
        else:
            _client(url).hincrby(_PREFIX + name, label, amount)
    except redis.RedisError as exc:
        log.warning("metric %s not counted: %s", name, exc)


def counter(name: str) -> int:
    url = get_settings().broker_url
    if not url:
        return 0
    value: bytes | None = _client(url).get(_PREFIX + name)  # type: ignore[assignment]
    return int(value) if value is not None else 0


def _samples(name: str) -> list[str]:
    if name not in LABELS:
        return [f"{name} {counter(name)}"]
    url = get_settings().broker_url
    stored: dict[bytes, bytes] = _client(url).hgetall(_PREFIX + name) if url else {}  # type: ignore[assignment]
    return [f'{name}{{{LABELS[name]}="{k.decode()}"}} {int(v)}' for k, v in sorted(stored.items())]


def render(session: Session) -> str:
    """Every counter, plus gauges: billing runs by status and recalculations waiting."""
    lines: list[str] = []
    for name, help_text in COUNTERS.items():
        try:
            samples = _samples(name)
        except redis.RedisError:
            continue  # a counter that cannot be read is left out rather than reported as 0
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter", *samples]
    lines += ["# HELP billrun_billing_runs Billing runs by status.", "# TYPE billrun_billing_runs gauge"]
    by_status = dict(
        session.execute(select(BillingRun.status, func.count()).group_by(BillingRun.status)).tuples().all()
    )
    for status in RunStatus:
        lines.append(f'billrun_billing_runs{{status="{status}"}} {by_status.get(status, 0)}')
    pending = session.execute(select(func.count()).select_from(RecalculationRequest)).scalar_one()
    waiting = session.execute(select(func.count()).select_from(ScheduleRecalculationRequest)).scalar_one()
    lines += [
        "# HELP billrun_recalculations_pending Invoices and schedules waiting to be recalculated.",
        "# TYPE billrun_recalculations_pending gauge",
        f'billrun_recalculations_pending{{kind="invoice"}} {pending}',
        f'billrun_recalculations_pending{{kind="schedule"}} {waiting}',
        "# HELP billrun_webhook_deliveries_pending Webhook deliveries waiting for their next attempt.",
        "# TYPE billrun_webhook_deliveries_pending gauge",
        f"billrun_webhook_deliveries_pending {webhook_repo.pending_count(session)}",
    ]
    return "\n".join(lines) + "\n"
