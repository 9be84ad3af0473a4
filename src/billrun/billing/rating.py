"""Rating one schedule's run: its inputs, read per run from SQL or prefetched in bulk for a chunk of runs
(one query per table and metric, DESIGN "Scale"), and the invoice draft the domain computes from them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billrun.billing.loading import ScheduleContext, SqlRatingData, on_demand_days
from billrun.domain.drafting import DueItem, items_due_on
from billrun.domain.inputs import ScheduleSpec, unbillable_amount
from billrun.domain.invoice import InvoiceDraft, SafetyBoundExceeded, compute_invoice, read_inputs
from billrun.domain.memory import RecordingData
from billrun.domain.periods import DateRange
from billrun.domain.seats import SeatTimeline
from billrun.domain.usage import UsageValue
from billrun.store import usage as usage_repo


class PermanentRunError(Exception):
    """Inputs found invalid at run time, or a safety bound: retrying cannot help (SPEC §6.6)."""


def ensure_billable(contexts: Iterable[ScheduleContext]) -> None:
    """Refuse, before any rating, schedules whose prices hold an amount too large to bill in bounded time
    (stored before the API's input limits): their run fails permanently instead of burning a worker's CPU.
    Each price is checked once, however many of the schedules list it."""
    prices = {id(p): p for ctx in contexts for p in ctx.spec.prices.values()}
    for price in prices.values():
        if (amount := unbillable_amount(price)) is not None:
            raise PermanentRunError(f"price {price.id} holds the amount {amount}, outside the range billrun bills")


def compute_for(
    session: Session, ctx: ScheduleContext, drafting_date: dt.date, prefetched: Prefetched | None = None
) -> tuple[InvoiceDraft, SqlRatingData]:
    if prefetched is not None:  # a chunk's bulk-loaded inputs (checked billable); anything else comes from SQL
        data = SqlRatingData(
            session,
            ctx,
            usage=prefetched.usage,
            values=prefetched.values,
            seats=prefetched.seats,
            seat_event_ids=prefetched.seat_ids,
        )
        days = prefetched.on_demand
        items = prefetched.items.get(drafting_date)
    else:
        ensure_billable([ctx])
        data = SqlRatingData(session, ctx)
        days = on_demand_days(session, ctx, drafting_date)
        items = None
    try:
        draft = compute_invoice(ctx.spec, drafting_date, data, ctx.tax_status, days, items)
    except SafetyBoundExceeded as exc:
        raise PermanentRunError(str(exc)) from exc
    return draft, data


#: the fields of ScheduleSpec that :func:`plan_key` covers (a test keeps it equal to the dataclass's)
PLAN_FIELDS = frozenset(
    {"id", "start", "end", "recurrence_day", "phases", "prices", "currency", "tax_rates", "roll_up"}
)


def plan_key(spec: ScheduleSpec, drafting_date: dt.date, on_demand: dict[str, frozenset[dt.date]]) -> tuple[Any, ...]:
    """What the items due on ``drafting_date`` and the inputs they read depend on: the schedule's terms
    without its own ids (schedule, phases, discounts, minimums: nothing that drafting or rating reads), its
    prices by identity (a chunk builds one spec per price and shares it), and its ON_DEMAND days. Tax rates
    change neither. Schedules sold on the same plan from the same date share a key."""
    phases = tuple(
        replace(
            p,
            id="",
            discounts=tuple(replace(d, id="") for d in p.discounts),
            minimums=tuple(replace(m, id="") for m in p.minimums),
        )
        for p in spec.phases
    )
    prices = tuple((price_id, id(price)) for price_id, price in spec.prices.items())
    days = tuple(sorted(on_demand.items()))
    return (spec.start, spec.end, spec.recurrence_day, spec.currency, spec.roll_up, phases, prices, days, drafting_date)


@dataclass
class Prefetched:
    """What one schedule's runs in the chunk read, loaded in bulk."""

    ctx: ScheduleContext
    on_demand: dict[str, frozenset[dt.date]] = field(default_factory=dict)
    usage: dict[tuple[str, DateRange], UsageValue] = field(default_factory=dict)
    values: dict[tuple[str, DateRange], tuple[Decimal | None, ...]] = field(default_factory=dict)
    seats: dict[str, SeatTimeline] = field(default_factory=dict)
    seat_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)
    items: dict[dt.date, list[DueItem]] = field(default_factory=dict)  # items due per drafting date


def prefetch(
    session: Session, runs: Sequence[tuple[uuid.UUID, dt.date]], contexts: dict[uuid.UUID, ScheduleContext]
) -> dict[uuid.UUID, Prefetched]:
    """Per schedule id: the inputs of these runs ((schedule id, drafting date) pairs), read with set-based
    queries in ``session``."""
    found = {sid: Prefetched(ctx) for sid, ctx in contexts.items()}
    reads: dict[uuid.UUID, list[RecordingData]] = {}
    planned: dict[tuple[Any, ...], tuple[list[DueItem], RecordingData]] = {}
    ensure_billable(contexts.values())  # the chunk fails, and each run then fails or bills alone
    for schedule_id, drafting_date in runs:
        pre = found[schedule_id]
        if any(p.is_on_demand for p in pre.ctx.spec.prices.values()):
            pre.on_demand = on_demand_days(session, pre.ctx, drafting_date)
        # schedules on the same plan share their items and reads: computed once per plan and date
        key = plan_key(pre.ctx.spec, drafting_date, pre.on_demand)
        if key not in planned:
            items = items_due_on(pre.ctx.spec, drafting_date, pre.on_demand)
            recorder = RecordingData()
            read_inputs(pre.ctx.spec, items, recorder)
            planned[key] = (items, recorder)
        items, recorder = planned[key]
        pre.items[drafting_date] = list(items)
        reads.setdefault(schedule_id, []).append(recorder)
    by_metric: dict[tuple[uuid.UUID, str], list[tuple[uuid.UUID, DateRange]]] = {}
    seat_requests: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = {}
    for sid, recorders in reads.items():
        ctx = found[sid].ctx
        recorder = RecordingData.union(recorders)
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
            found[sid].seats[seat_type] = SeatTimeline.build(seat_rows, seat_type, found[sid].ctx.aliases)
            found[sid].seat_ids[seat_type] = tuple(r.id for r in seat_rows)
    return found
