"""Recalculating DRAFT and IN_PROGRESS invoices when their inputs change (SPEC §5.7).

Triggers (events, overrides, VOIDs, alias changes, tax-status and tax-rate edits, schedule edits) insert one
``recalculation_requests`` row per affected invoice, in the trigger's own transaction, so any number of
events coalesce into one recalculation. A worker drains the queue after a short debounce; a schedule under
a time traveller is drained by the traveller itself, which stays IN_PROGRESS until it is done (SPEC §7).
FINAL, SENT and VOIDED invoices are never touched.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from billrun.billing.clock import real_now, schedule_now
from billrun.billing.dispatch import dispatcher
from billrun.billing.execution import PermanentRunError, compute_for
from billrun.billing.invoicing import LIVE_EDITABLE, write_draft
from billrun.billing.loading import load_context
from billrun.config import get_settings
from billrun.store import customers as customer_repo
from billrun.store import runs as run_repo
from billrun.store.db import unit_of_work
from billrun.store.models import (
    BillingSchedule,
    Invoice,
    RecalculationRequest,
    ScheduleTaxRate,
    TimeTraveller,
)

_touched_travellers: contextvars.ContextVar[set[uuid.UUID] | None] = contextvars.ContextVar(
    "touched_travellers", default=None
)
_queued: contextvars.ContextVar[bool] = contextvars.ContextVar("recalculation_queued", default=False)


def _schedules_for_customers(
    session: Session, account_id: uuid.UUID, customer_ids: Iterable[uuid.UUID]
) -> list[BillingSchedule]:
    """Schedules whose alias set includes these customers: their own, and roll-up schedules of ancestors."""
    direct = set(customer_ids)
    with_ancestors = set(direct)
    for cid in direct:
        with_ancestors.update(customer_repo.ancestors(session, cid))
    rows = session.execute(
        select(BillingSchedule).where(
            BillingSchedule.account_id == account_id, BillingSchedule.customer_id.in_(with_ancestors)
        )
    ).scalars()
    return [s for s in rows if s.customer_id in direct or s.roll_up_billing]


def _request(session: Session, schedules: Iterable[BillingSchedule], after: dt.date | None = None) -> None:
    for schedule in schedules:
        stmt = select(Invoice.id).where(
            Invoice.billing_schedule_id == schedule.id,
            Invoice.status.in_(LIVE_EDITABLE),
            Invoice.drafting_date.is_not(None),
        )
        if after is not None:
            # An event on day d can only change invoices drafted after d (arrears windows end before D).
            stmt = stmt.where(Invoice.drafting_date > after)
        invoice_ids = list(session.execute(stmt).scalars())
        if not invoice_ids:
            continue
        session.execute(
            insert(RecalculationRequest)
            .values([{"invoice_id": i, "account_id": schedule.account_id} for i in invoice_ids])
            .on_conflict_do_nothing()
        )
        _queued.set(True)
        if schedule.time_traveller_id is not None:
            traveller = session.get(TimeTraveller, schedule.time_traveller_id, with_for_update=True)
            if traveller is not None:
                traveller.status = "IN_PROGRESS"
                touched = _touched_travellers.get() or set()
                touched.add(traveller.id)
                _touched_travellers.set(touched)


def request_for_customers(
    session: Session, account_id: uuid.UUID, customer_ids: Iterable[uuid.UUID], after: dt.date | None = None
) -> None:
    _request(session, _schedules_for_customers(session, account_id, customer_ids), after)


def request_for_alias(session: Session, account_id: uuid.UUID, alias: str, timestamps: Iterable[dt.datetime]) -> None:
    """An accepted event (or override, or VOID) for ``alias`` at these timestamps (SPEC §5.7)."""
    customers = customer_repo.customers_for_alias(session, account_id, alias)
    stamps = list(timestamps)
    if customers and stamps:
        request_for_customers(session, account_id, customers[:1], min(stamps).date())
        # ancestors see the event only through roll-up schedules
        _request(
            session,
            [
                s
                for s in _schedules_for_customers(session, account_id, customers[1:])
                if s.roll_up_billing and s.customer_id != customers[0]
            ],
            min(stamps).date(),
        )


def request_for_tax_rate(session: Session, account_id: uuid.UUID, tax_rate_id: uuid.UUID) -> None:
    schedule_ids = session.execute(
        select(ScheduleTaxRate.billing_schedule_id).where(
            ScheduleTaxRate.account_id == account_id, ScheduleTaxRate.tax_rate_id == tax_rate_id
        )
    ).scalars()
    _request(session, [s for sid in set(schedule_ids) if (s := session.get(BillingSchedule, sid)) is not None])


def request_for_schedule(session: Session, schedule: BillingSchedule) -> None:
    _request(session, [schedule])


def kick() -> None:
    """After commit: wake the travellers that now have work and schedule a drain of the queue."""
    touched = _touched_travellers.get() or set()
    _touched_travellers.set(None)
    for traveller_id in touched:
        dispatcher().advance_traveller(traveller_id)
    if _queued.get():
        _queued.set(False)
        dispatcher().recalculate_pending(get_settings().recalc_debounce_seconds)


def pending_for_schedule(session: Session, schedule_id: uuid.UUID) -> bool:
    return (
        session.execute(
            select(RecalculationRequest.invoice_id)
            .join(Invoice, Invoice.id == RecalculationRequest.invoice_id)
            .where(Invoice.billing_schedule_id == schedule_id)
            .limit(1)
        ).first()
        is not None
    )


def recalculate_invoice(session: Session, invoice: Invoice, clock: dt.datetime | None = None) -> bool:
    """Recompute an engine invoice in place (same id, new calculatedAt). False when it is not editable."""
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
    if draft.is_empty:
        return False
    write_draft(session, ctx, invoice, draft, when, invoice.billing_run_id, "RECALCULATION", data)
    session.execute(delete(RecalculationRequest).where(RecalculationRequest.invoice_id == invoice.id))
    return True


def _drain(invoice_ids: list[uuid.UUID]) -> None:
    for invoice_id in invoice_ids:
        try:
            with unit_of_work() as session:
                invoice = session.get(Invoice, invoice_id)
                if invoice is not None:
                    recalculate_invoice(session, invoice)
                session.execute(delete(RecalculationRequest).where(RecalculationRequest.invoice_id == invoice_id))
        except PermanentRunError:
            with unit_of_work() as session:
                session.execute(delete(RecalculationRequest).where(RecalculationRequest.invoice_id == invoice_id))


def process_pending(limit: int = 500, min_age_seconds: float | None = None) -> int:
    """Drain queued recalculations of real-clock schedules; returns how many were processed."""
    age = get_settings().recalc_debounce_seconds if min_age_seconds is None else min_age_seconds
    with unit_of_work() as session:
        rows = list(
            session.execute(
                select(RecalculationRequest.invoice_id)
                .join(Invoice, Invoice.id == RecalculationRequest.invoice_id)
                .join(BillingSchedule, BillingSchedule.id == Invoice.billing_schedule_id)
                .where(
                    BillingSchedule.time_traveller_id.is_(None),
                    RecalculationRequest.requested_at <= real_now() - dt.timedelta(seconds=age),
                )
                .order_by(RecalculationRequest.requested_at)
                .limit(limit)
                .with_for_update(of=RecalculationRequest, skip_locked=True)
            ).scalars()
        )
    _drain(rows)
    return len(rows)


def process_for_traveller(traveller_id: uuid.UUID) -> None:
    with unit_of_work() as session:
        traveller = session.get(TimeTraveller, traveller_id)
        if traveller is None or traveller.billing_schedule_id is None:
            return
        rows = list(
            session.execute(
                select(RecalculationRequest.invoice_id)
                .join(Invoice, Invoice.id == RecalculationRequest.invoice_id)
                .where(Invoice.billing_schedule_id == traveller.billing_schedule_id)
            ).scalars()
        )
    _drain(rows)
