"""Executing a chunk of billing runs with set-based loading (SPEC §6.3, DESIGN "Scale").

Before the runs execute, one read transaction loads every schedule of the chunk (one query per table), finds
which metric windows and seat timelines each invoice will read (a recording pass of the domain core), and
fetches them with one aggregation query per metric and one seat query for the whole chunk. Each run then
executes in its own transaction as before, reading from that prefetched data (falling back to SQL for
anything not prefetched, and reloading a schedule edited in between).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from billrun.billing.execution import Outcome, execute_run
from billrun.billing.loading import ScheduleContext, load_contexts, on_demand_days
from billrun.domain.invoice import SafetyBoundExceeded, compute_invoice
from billrun.domain.periods import DateRange
from billrun.domain.seats import SeatTimeline
from billrun.domain.usage import ZERO_USAGE, UsageValue
from billrun.store import usage as usage_repo
from billrun.store.db import unit_of_work
from billrun.store.models import BillingRun, BillingSchedule


class RecordingData:
    """Answers zero to everything and remembers what was asked: which windows an invoice reads depends only
    on the schedule and the drafting date, never on the values."""

    def __init__(self) -> None:
        self.usage_windows: set[tuple[str, DateRange]] = set()
        self.value_windows: set[tuple[str, DateRange]] = set()
        self.seat_types: set[str] = set()

    def usage(self, metric_id: str, window: DateRange) -> UsageValue:
        self.usage_windows.add((metric_id, window))
        return ZERO_USAGE

    def event_values(self, metric_id: str, window: DateRange) -> tuple[Decimal | None, ...]:
        self.value_windows.add((metric_id, window))
        return ()

    def seat_timeline(self, seat_type: str) -> SeatTimeline:
        self.seat_types.add(seat_type)
        return SeatTimeline(())


@dataclass
class Prefetched:
    """What one schedule's runs in the chunk read, loaded in bulk."""

    ctx: ScheduleContext
    on_demand: dict[str, frozenset[dt.date]] = field(default_factory=dict)
    usage: dict[tuple[str, DateRange], UsageValue] = field(default_factory=dict)
    values: dict[tuple[str, DateRange], tuple[Decimal | None, ...]] = field(default_factory=dict)
    seats: dict[str, SeatTimeline] = field(default_factory=dict)
    seat_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)


def prefetch(run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Prefetched]:
    """Per schedule id: the chunk's inputs, read in one transaction with set-based queries."""
    with unit_of_work() as session:
        runs = list(session.execute(select(BillingRun).where(BillingRun.id.in_(run_ids))).scalars())
        schedules = list(
            session.execute(
                select(BillingSchedule).where(BillingSchedule.id.in_({r.billing_schedule_id for r in runs}))
            ).scalars()
        )
        contexts = load_contexts(session, schedules)
        found = {sid: Prefetched(ctx) for sid, ctx in contexts.items()}
        recorders: dict[uuid.UUID, RecordingData] = {}
        for run in runs:
            pre = found[run.billing_schedule_id]
            if any(p.is_on_demand for p in pre.ctx.spec.prices.values()):
                pre.on_demand = on_demand_days(session, pre.ctx, run.intended_drafting_date)
            recorder = recorders.setdefault(run.billing_schedule_id, RecordingData())
            try:
                compute_invoice(pre.ctx.spec, run.intended_drafting_date, recorder, pre.ctx.tax_status, pre.on_demand)
            except SafetyBoundExceeded:
                continue  # the run itself reports it
        by_metric: dict[tuple[uuid.UUID, str], list[tuple[uuid.UUID, DateRange]]] = {}
        seat_requests: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
        for sid, recorder in recorders.items():
            ctx = found[sid].ctx
            for metric_id, window in recorder.usage_windows:
                by_metric.setdefault((ctx.row.account_id, metric_id), []).append((sid, window))
            for metric_id, window in recorder.value_windows:
                found[sid].values[(metric_id, window)] = usage_repo.event_values(
                    session, ctx.row.account_id, ctx.metrics[metric_id], ctx.aliases, window
                )
            for seat_type in recorder.seat_types:
                seat_requests.setdefault(ctx.row.account_id, []).append((sid, seat_type))
        for (account_id, metric_id), wanted in by_metric.items():
            metric = next(found[sid].ctx.metrics[metric_id] for sid, _ in wanted)
            values = usage_repo.aggregate_many(
                session, account_id, metric, [(found[sid].ctx.aliases, window) for sid, window in wanted]
            )
            for (sid, window), value in zip(wanted, values, strict=True):
                found[sid].usage[(metric_id, window)] = value
        for account_id, wanted_seats in seat_requests.items():
            rows = usage_repo.seat_rows_many(
                session, account_id, [(seat_type, found[sid].ctx.aliases) for sid, seat_type in wanted_seats]
            )
            for (sid, seat_type), seat_rows in zip(wanted_seats, rows, strict=True):
                records = seat_rows
                found[sid].seats[seat_type] = SeatTimeline.build(records, seat_type, found[sid].ctx.aliases)
                found[sid].seat_ids[seat_type] = tuple(r.id for r in seat_rows)
    return found


def execute_chunk(run_ids: Sequence[uuid.UUID], trigger: str | None = None) -> list[Outcome]:
    """Prefetch the chunk's inputs, then execute each run exactly once in its own transaction."""
    try:
        inputs = prefetch(run_ids)
    except Exception:  # prefetching is an optimisation: the runs load their own inputs instead
        inputs = {}
    outcomes = []
    with unit_of_work() as session:
        schedule_of = dict(
            session.execute(select(BillingRun.id, BillingRun.billing_schedule_id).where(BillingRun.id.in_(run_ids)))
            .tuples()
            .all()
        )
    for run_id in run_ids:
        schedule_id = schedule_of.get(run_id)
        prefetched = inputs.get(schedule_id) if schedule_id is not None else None
        outcomes.append(execute_run(run_id, trigger=trigger, prefetched=prefetched))
    return outcomes
