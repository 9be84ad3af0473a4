"""Pricing backtests (``POST /backtests``): every drafting date in a span of the selected schedules re-rated
twice, as billed and with replacement prices, from the same inputs (the invoice's audit snapshot where one
exists, what the calculation of today would read where none does), persisting nothing but one row per
schedule and date with the two net totals. The work runs on the workers' ``backtests`` queue in chunks of
schedules, each its own transaction, so its memory does not grow with the number of schedules and billing
runs are never queued behind it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.orm import Session

from billrun.billing.clock import real_now
from billrun.billing.dispatch import dispatcher
from billrun.billing.loading import SqlRatingData, load_contexts, on_demand_days
from billrun.billing.snapshots import SnapshotData, schedule_from_snapshot
from billrun.domain.drafting import drafting_dates
from billrun.domain.inputs import PriceSpec, ScheduleSpec, TaxStatus, price_from_json
from billrun.domain.invoice import SafetyBoundExceeded, compute_invoice
from billrun.domain.periods import DateRange
from billrun.domain.pricing import RatingData
from billrun.domain.seats import SeatTimeline
from billrun.domain.statuses import BacktestStatus
from billrun.domain.usage import UsageValue
from billrun.store import backtests as repo
from billrun.store.db import after_commit, unit_of_work
from billrun.store.models import Backtest, BillingSchedule

log = structlog.get_logger(__name__)

#: schedules per step (one transaction, one task) of a backtest
CHUNK = 50


def start(
    session: Session,
    account_id: uuid.UUID,
    first: dt.date,
    last: dt.date,
    replacements: list[dict[str, Any]],
    customer_ids: Sequence[uuid.UUID] | None,
) -> Backtest:
    """Record a backtest and queue its work once ``session`` commits. ``replacements``: validated
    ``{"priceId", "with": canonical price}``."""
    now = real_now()
    backtest = Backtest(
        account_id=account_id,
        status=BacktestStatus.QUEUED,
        request={
            "from": first.isoformat(),
            "to": last.isoformat(),
            "replacePrices": replacements,
            "customerIds": None if customer_ids is None else [str(c) for c in customer_ids],
        },
        schedules_total=len(repo.schedule_ids(session, account_id, customer_ids)),
        schedules_done=0,
        created_at=now,
        updated_at=now,
    )
    session.add(backtest)
    session.flush()
    backtest_id = backtest.id
    after_commit(session, lambda: dispatcher().run_backtest(backtest_id), ("run_backtest", backtest_id))
    return backtest


def step(backtest_id: uuid.UUID) -> tuple[bool, int, int]:
    """Re-rate the next chunk of schedules (after the backtest's cursor) in one transaction, the backtest's row
    locked meanwhile: a redelivered or doubled task re-rates nothing twice. Returns (more to do, done, total);
    the last step marks it COMPLETED, a failing one FAILED."""
    try:
        with unit_of_work() as s:
            backtest = s.get(Backtest, backtest_id, with_for_update=True)
            if backtest is None or backtest.status in (BacktestStatus.COMPLETED, BacktestStatus.FAILED):
                return False, 0, 0
            request = backtest.request
            customers = request.get("customerIds")
            selected = None if customers is None else [uuid.UUID(c) for c in customers]
            ids = repo.schedule_ids(s, backtest.account_id, selected, after=backtest.cursor, limit=CHUNK)
            now = real_now()
            backtest.status, backtest.updated_at = BacktestStatus.RUNNING, now
            if not ids:
                backtest.status, backtest.completed_at = BacktestStatus.COMPLETED, now
                return False, backtest.schedules_done, backtest.schedules_total
            first, last = dt.date.fromisoformat(request["from"]), dt.date.fromisoformat(request["to"])
            replacements = {r["priceId"]: r["with"] for r in request["replacePrices"]}
            repo.write_rows(s, rerate(s, backtest_id, repo.schedules(s, ids), first, last, replacements))
            backtest.cursor = ids[-1]
            backtest.schedules_done += len(ids)
            return True, backtest.schedules_done, backtest.schedules_total
    except Exception as exc:
        log.exception("backtest failed", backtest_id=str(backtest_id))
        with unit_of_work() as s:
            failed = s.get(Backtest, backtest_id)
            if failed is not None:
                failed.status, failed.error = BacktestStatus.FAILED, f"{type(exc).__name__}: {exc}"[:1000]
                failed.completed_at = failed.updated_at = real_now()
        return False, 0, 0


def run(backtest_id: uuid.UUID, progress: Callable[[int, int], None] | None = None) -> None:
    """Every step in this process (the CLI, tests); ``progress(done, total)`` after each."""
    more = True
    while more:
        more, done, total = step(backtest_id)
        if progress is not None and total:
            progress(done, total)


def run_task(backtest_id: uuid.UUID) -> None:
    """One step, then the next as a task of its own: between chunks a worker takes whatever else is queued,
    so a backtest of 20,000 schedules never holds a worker process for its whole length."""
    more, _, _ = step(backtest_id)
    if more:
        dispatcher().run_backtest(backtest_id)


class _SnapshotFirst:
    """What the billed calculation read (its snapshot), and for a window it did not read (a replacement that
    reads more), what a calculation would read today."""

    def __init__(self, recorded: SnapshotData, live: SqlRatingData) -> None:
        self.recorded, self.live = recorded, live

    def usage(self, metric_id: str, window: DateRange) -> UsageValue:
        found = self.recorded.usage_values.get((metric_id, window))
        return found if found is not None else self.live.usage(metric_id, window)

    def event_values(self, metric_id: str, window: DateRange) -> tuple[Decimal | None, ...]:
        found = self.recorded.values.get((metric_id, window))
        return found if found is not None else self.live.event_values(metric_id, window)

    def seat_timeline(self, seat_type: str) -> SeatTimeline:
        found = self.recorded.timelines.get(seat_type)
        return found if found is not None else self.live.seat_timeline(seat_type)


def replaced(spec: ScheduleSpec, replacements: dict[str, dict[str, Any]]) -> ScheduleSpec:
    """``spec`` with each replaced price it holds priced as its replacement (same id, product and metric)."""
    prices = dict(spec.prices)
    for price_id, body in replacements.items():
        original = prices.get(price_id)
        if original is not None:
            prices[price_id] = _replacement(original, body)
    return dataclasses.replace(spec, prices=prices)


def _replacement(original: PriceSpec, body: dict[str, Any]) -> PriceSpec:
    seat_metric = body["structure"].get("seatMetricId")
    return price_from_json(
        original.id,
        body.get("name") or original.name,
        body["currency"],
        body["structure"],
        body["billingFrequency"],
        body["billingType"],
        product_id=original.product_id,
        usage_calculation_period=body.get("usageCalculationPeriod"),
        seat_types={seat_metric: original.seat_type or seat_metric} if seat_metric else None,
    )


def rerate(
    s: Session,
    backtest_id: uuid.UUID,
    schedules: list[BillingSchedule],
    first: dt.date,
    last: dt.date,
    replacements: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """One row per drafting date in ``first..last`` of each schedule: the net total as billed and as re-rated."""
    contexts = load_contexts(s, schedules)
    billed = repo.billed_snapshots(s, [x.id for x in schedules], first, last)
    rows = []
    for schedule in schedules:
        ctx = contexts[schedule.id]
        live = SqlRatingData(s, ctx)
        days = on_demand_days(s, ctx, last)
        for date in drafting_dates(ctx.spec, last, days):
            if date < first:
                continue
            body = billed.get((schedule.id, date))
            data: RatingData = live
            spec, status = ctx.spec, ctx.tax_status
            if body is not None:
                spec, status = schedule_from_snapshot(body), TaxStatus(body["customer"]["taxStatus"])
                data = _SnapshotFirst(SnapshotData(body), live)
            try:
                old = compute_invoice(spec, date, data, status, days)
                new = compute_invoice(replaced(spec, replacements), date, data, status, days)
            except SafetyBoundExceeded:  # the run fails the same way: nothing was or would be billed
                continue
            if old.is_empty and new.is_empty:
                continue
            period = old.billing_period or new.billing_period
            rows.append(
                {
                    "backtest_id": backtest_id,
                    "billing_schedule_id": schedule.id,
                    "drafting_date": date,
                    "customer_id": schedule.customer_id,
                    "currency": spec.currency,
                    "period_start": period.start if period else None,
                    "period_end": period.end if period else None,
                    "old_net": old.net_total,
                    "new_net": new.net_total,
                }
            )
    return rows
