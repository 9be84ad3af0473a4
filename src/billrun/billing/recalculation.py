"""Recalculating DRAFT and IN_PROGRESS invoices when their inputs change (SPEC §5.7).

Triggers (events, overrides, VOIDs, alias changes, tax-status and tax-rate edits, schedule edits) insert one
``recalculation_requests`` row per affected invoice, in the trigger's own transaction, so any number of
events coalesce into one recalculation. Once that transaction commits, its unit of work schedules a drain of
the queue after a short debounce; a schedule under a time traveller is drained by the traveller itself, which
stays IN_PROGRESS until it is done (SPEC §7). FINAL, SENT and VOIDED invoices are never touched.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from functools import partial

from sqlalchemy.orm import Session

from billrun import metrics
from billrun.billing.clock import real_now, schedule_now
from billrun.billing.dispatch import advance_after_commit, drain_after_commit, drain_soon
from billrun.billing.invoicing import apply_draft
from billrun.billing.loading import load_context
from billrun.billing.rating import PermanentRunError, compute_for
from billrun.config import get_settings
from billrun.domain.statuses import LIVE_EDITABLE, TravellerStatus, Trigger
from billrun.store import customers as customer_repo
from billrun.store import invoices as invoice_repo
from billrun.store import recalculations as queue
from billrun.store import runs as run_repo
from billrun.store.db import after_commit, unit_of_work
from billrun.store.models import BillingSchedule, Invoice, TimeTraveller


def _schedules_for_customers(
    session: Session, account_id: uuid.UUID, customer_ids: Iterable[uuid.UUID]
) -> list[BillingSchedule]:
    """Schedules whose alias set includes these customers: their own, and roll-up schedules of ancestors."""
    direct = set(customer_ids)
    with_ancestors = set(direct)
    for cid in direct:
        with_ancestors.update(customer_repo.ancestors(session, cid))
    rows = queue.schedules_of_customers(session, account_id, with_ancestors)
    return [s for s in rows if s.customer_id in direct or s.roll_up_billing]


def _may_start_soon(schedule: BillingSchedule) -> bool:
    """A run of this schedule may be created and executed at any moment (its next drafting date has come by
    its clock, with a day's margin for ``billingRunOffset``); traveller clocks jump, so they always may."""
    if schedule.time_traveller_id is not None:
        return True
    due = schedule.next_drafting_date
    return due is not None and due <= real_now().date() + dt.timedelta(days=1)


def _late_for_final(session: Session, schedule_id: uuid.UUID, stamps: Sequence[dt.datetime]) -> int:
    """How many of these event timestamps fall in the service window of a FINAL, SENT or VOIDED invoice, which
    is never changed (SPEC §5.7): counted in ``late_events_for_final_invoices_total``."""
    windows = queue.finalized_windows(session, schedule_id, min(stamps).date())
    return sum(
        1
        for stamp in stamps
        if any(start is not None and start <= stamp.date() < drafted for start, drafted in windows)
    )


def _request(session: Session, schedules: Iterable[BillingSchedule], after: dt.date | None = None) -> None:
    _request_each(session, [(schedule, after, ()) for schedule in schedules])


def _request_each(
    session: Session, wanted: Iterable[tuple[BillingSchedule, dt.date | None, Sequence[dt.datetime]]]
) -> None:
    """Queue the recalculations an input change causes, in schedule-id order.

    The reads look at runs first, then invoices: a run committing in between is seen by one of the two. A run
    queued or executing may already have read its inputs, so it gets a schedule-level request that waits for
    its invoice. What is left is a run created and executed between these reads and this commit; that can
    only happen to a schedule whose next drafting date has come, so for those the transaction also takes the
    schedule's advisory lock shared, without waiting: a run computes under the exclusive lock, so either it
    is computing now (lock refused: schedule-level request) or it will read after this commit. Ingestion
    never waits for billing."""
    for schedule, after, stamps in sorted(wanted, key=lambda item: item[0].id):
        queued = False
        computing = _may_start_soon(schedule) and not run_repo.try_lock_schedule_shared(session, schedule.id)
        # a run queued or executing may have read its inputs already while its invoice is not committed yet
        if computing or queue.run_in_flight(session, schedule.id, after):
            queue.request_schedule(session, schedule, after)
            queued = True
        queued = bool(queue.request_invoices(session, schedule, after)) or queued
        if stamps and (late := _late_for_final(session, schedule.id, stamps)):
            after_commit(session, partial(metrics.incr, "late_events_for_final_invoices_total", late))
        if not queued:
            continue
        drain_after_commit(session)
        if schedule.time_traveller_id is not None:
            traveller = session.get(TimeTraveller, schedule.time_traveller_id, with_for_update=True)
            if traveller is not None:
                traveller.status = TravellerStatus.IN_PROGRESS
                advance_after_commit(session, traveller.id)


def request_for_customers(
    session: Session, account_id: uuid.UUID, customer_ids: Iterable[uuid.UUID], after: dt.date | None = None
) -> None:
    _request(session, _schedules_for_customers(session, account_id, customer_ids), after)


def request_for_aliases(session: Session, account_id: uuid.UUID, stamps_by_alias: dict[str, list[dt.datetime]]) -> None:
    """Accepted events (or overrides, or VOIDs) for these aliases at these timestamps (SPEC §5.7): the
    customer an alias resolves to, and the roll-up schedules of its ancestors."""
    wanted: dict[uuid.UUID, tuple[BillingSchedule, list[dt.datetime]]] = {}
    for alias, stamps in stamps_by_alias.items():
        customers = customer_repo.customers_for_alias(session, account_id, alias)
        if not customers or not stamps:
            continue
        own = _schedules_for_customers(session, account_id, customers[:1])
        # ancestors see the event only through roll-up schedules
        rolled_up = [
            s
            for s in _schedules_for_customers(session, account_id, customers[1:])
            if s.roll_up_billing and s.customer_id != customers[0]
        ]
        for schedule in [*own, *rolled_up]:
            wanted.setdefault(schedule.id, (schedule, []))[1].extend(stamps)
    _request_each(session, [(schedule, min(s).date(), s) for schedule, s in wanted.values()])


def request_for_tax_rate(session: Session, account_id: uuid.UUID, tax_rate_id: uuid.UUID) -> None:
    _request(session, queue.schedules_with_tax_rate(session, account_id, tax_rate_id))


def request_for_schedule(session: Session, schedule: BillingSchedule) -> None:
    _request(session, [schedule])


def recalculate_schedule_soon(session: Session, schedule: BillingSchedule) -> list[uuid.UUID]:
    """Queue the schedule's live invoices (``POST /invoices/recalculate`` by schedule); their ids."""
    request_for_schedule(session, schedule)
    return invoice_repo.live_of_schedule(session, schedule.id)


def recalculate_now(session: Session, invoices: Sequence[Invoice]) -> list[uuid.UUID]:
    """Recalculate those of ``invoices`` that are live, in this transaction; their ids."""
    live = [invoice for invoice in invoices if invoice.status in LIVE_EDITABLE]
    for invoice in live:
        recalculate_invoice(session, invoice)
    return [invoice.id for invoice in live]


def settle(schedule_id: uuid.UUID) -> list[uuid.UUID] | None:
    """Turn a schedule-level request into per-invoice requests once none of its runs is in flight (under the
    exclusive schedule lock, so every invoice those runs made is visible). Returns the invoices now queued,
    or None while a run is still in flight."""
    with unit_of_work() as session:
        run_repo.lock_schedule_runs(session, schedule_id)
        found = queue.schedule_request(session, schedule_id, lock=True)
        if found is None:
            return []
        if queue.run_in_flight(session, schedule_id, found.after_date):
            return None
        schedule = session.get(BillingSchedule, schedule_id)
        queued = queue.request_invoices(session, schedule, found.after_date) if schedule is not None else []
        session.delete(found)
        return queued


def recalculate_invoice(session: Session, invoice: Invoice, clock: dt.datetime | None = None) -> bool:
    """Recompute an engine invoice in place (same id, new calculatedAt) under the rule of
    :func:`billrun.billing.invoicing.apply_draft`. False when it is not editable or was deleted because it
    bills nothing any more."""
    if invoice.status not in LIVE_EDITABLE or invoice.billing_schedule_id is None or invoice.drafting_date is None:
        return False
    run_repo.lock_schedule_runs(session, invoice.billing_schedule_id)
    session.refresh(invoice, with_for_update=True)
    if invoice.status not in LIVE_EDITABLE:
        return False
    schedule = session.get(BillingSchedule, invoice.billing_schedule_id)
    assert schedule is not None
    ctx = load_context(session, schedule)
    draft, data = compute_for(session, ctx, invoice.drafting_date)
    when = clock or schedule_now(session, schedule)
    queue.forget_invoice(session, invoice.id)
    return apply_draft(session, ctx, invoice, draft, when, invoice.billing_run_id, Trigger.RECALCULATION, data)


def _drain(invoice_ids: list[uuid.UUID]) -> None:
    for invoice_id in invoice_ids:
        try:
            with unit_of_work() as session:
                invoice = session.get(Invoice, invoice_id)
                if invoice is not None:
                    recalculate_invoice(session, invoice)
                queue.forget_invoice(session, invoice_id)
        except PermanentRunError:
            with unit_of_work() as session:
                queue.forget_invoice(session, invoice_id)


def process_pending(limit: int = 500, min_age_seconds: float | None = None) -> int:
    """Drain queued recalculations of real-clock schedules; returns how many invoices were processed. Requests
    still waiting for a run in flight are looked at again after another debounce."""
    age = get_settings().recalc_debounce_seconds if min_age_seconds is None else min_age_seconds
    cutoff = real_now() - dt.timedelta(seconds=age)
    with unit_of_work() as session:
        waiting = queue.waiting_schedules(session, cutoff, limit)
    unsettled = 0
    settled: list[uuid.UUID] = []  # these waited their debounce as schedule-level requests already
    for schedule_id in waiting:
        queued = settle(schedule_id)
        if queued is None:
            unsettled += 1
        else:
            settled.extend(queued)
    with unit_of_work() as session:
        rows = queue.due_invoices(session, cutoff, limit)
    rows += [invoice_id for invoice_id in settled if invoice_id not in rows]
    _drain(rows)
    if unsettled:
        drain_soon()
    return len(rows)


def process_for_traveller(traveller_id: uuid.UUID) -> bool:
    """Drain a traveller's schedule; False when a request still waits for a run executing elsewhere."""
    with unit_of_work() as session:
        traveller = session.get(TimeTraveller, traveller_id)
        if traveller is None or traveller.billing_schedule_id is None:
            return True
        schedule_id = traveller.billing_schedule_id
    settled = settle(schedule_id) is not None
    with unit_of_work() as session:
        rows = queue.queued_invoices(session, schedule_id)
    _drain(rows)
    return settled
