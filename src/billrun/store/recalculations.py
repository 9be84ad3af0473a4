"""The recalculation queue (SPEC §5.7): per-invoice requests, and schedule-level requests that wait for a run
in flight; plus the reads that decide what an input change must recalculate."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy import case, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from billrun.domain.statuses import FINALIZED, IN_FLIGHT, LIVE_EDITABLE
from billrun.store.models import (
    BillingRun,
    BillingSchedule,
    Invoice,
    RecalculationRequest,
    ScheduleRecalculationRequest,
    ScheduleTaxRate,
)


def schedules_of_customers(
    session: Session, account_id: uuid.UUID, customer_ids: Iterable[uuid.UUID]
) -> list[BillingSchedule]:
    query = select(BillingSchedule).where(
        BillingSchedule.account_id == account_id, BillingSchedule.customer_id.in_(set(customer_ids))
    )
    return list(session.execute(query).scalars())


def schedules_with_tax_rate(session: Session, account_id: uuid.UUID, tax_rate_id: uuid.UUID) -> list[BillingSchedule]:
    query = select(BillingSchedule).where(
        BillingSchedule.id.in_(
            select(ScheduleTaxRate.billing_schedule_id).where(
                ScheduleTaxRate.account_id == account_id, ScheduleTaxRate.tax_rate_id == tax_rate_id
            )
        )
    )
    return list(session.execute(query.order_by(BillingSchedule.id)).scalars())


def run_in_flight(session: Session, schedule_id: uuid.UUID, after: dt.date | None) -> bool:
    """A run of this schedule queued or executing, drafting after ``after`` (any, when None)."""
    query = select(BillingRun.id).where(BillingRun.billing_schedule_id == schedule_id, BillingRun.status.in_(IN_FLIGHT))
    if after is not None:
        query = query.where(BillingRun.intended_drafting_date > after)
    return session.execute(query.limit(1)).first() is not None


def finalized_windows(session: Session, schedule_id: uuid.UUID, since: dt.date) -> list[tuple[dt.date | None, dt.date]]:
    """(billing period start, drafting date) of the schedule's FINAL, SENT and VOIDED invoices drafted after
    ``since``."""
    query = select(Invoice.billing_period_start, Invoice.drafting_date).where(
        Invoice.billing_schedule_id == schedule_id, Invoice.status.in_(FINALIZED), Invoice.drafting_date > since
    )
    return [(start, drafted) for start, drafted in session.execute(query).all()]


def request_schedule(session: Session, schedule: BillingSchedule, after: dt.date | None) -> None:
    """A schedule-level request; an existing one widens to the earlier ``after`` (None: everything)."""
    table = ScheduleRecalculationRequest.__table__
    stmt = insert(ScheduleRecalculationRequest).values(
        billing_schedule_id=schedule.id, account_id=schedule.account_id, after_date=after
    )
    widened = case(
        (table.c.after_date.is_(None) | stmt.excluded.after_date.is_(None), None),
        else_=func.least(table.c.after_date, stmt.excluded.after_date),
    )
    session.execute(
        stmt.on_conflict_do_update(index_elements=[table.c.billing_schedule_id], set_={"after_date": widened})
    )


def request_invoices(session: Session, schedule: BillingSchedule, after: dt.date | None) -> list[uuid.UUID]:
    """Queue the schedule's live invoices drafted after ``after`` (all, when None); returns their ids."""
    query = select(Invoice.id).where(
        Invoice.billing_schedule_id == schedule.id,
        Invoice.status.in_(LIVE_EDITABLE),
        Invoice.drafting_date.is_not(None),
    )
    if after is not None:
        query = query.where(Invoice.drafting_date > after)
    invoice_ids = list(session.execute(query).scalars())
    if invoice_ids:
        rows = [{"invoice_id": i, "account_id": schedule.account_id} for i in invoice_ids]
        session.execute(insert(RecalculationRequest).values(rows).on_conflict_do_nothing())
    return invoice_ids


def schedule_request(
    session: Session, schedule_id: uuid.UUID, lock: bool = False
) -> ScheduleRecalculationRequest | None:
    return session.get(ScheduleRecalculationRequest, schedule_id, with_for_update=lock)


def pending_for_schedule(session: Session, schedule_id: uuid.UUID) -> bool:
    if schedule_request(session, schedule_id) is not None:
        return True
    query = (
        select(RecalculationRequest.invoice_id)
        .join(Invoice, Invoice.id == RecalculationRequest.invoice_id)
        .where(Invoice.billing_schedule_id == schedule_id)
    )
    return session.execute(query.limit(1)).first() is not None


def forget_invoice(session: Session, invoice_id: uuid.UUID) -> None:
    session.execute(delete(RecalculationRequest).where(RecalculationRequest.invoice_id == invoice_id))


def waiting_schedules(session: Session, cutoff: dt.datetime, limit: int) -> list[uuid.UUID]:
    """Real-clock schedules whose schedule-level request is older than ``cutoff``, oldest first."""
    query = (
        select(ScheduleRecalculationRequest.billing_schedule_id)
        .join(BillingSchedule, BillingSchedule.id == ScheduleRecalculationRequest.billing_schedule_id)
        .where(BillingSchedule.time_traveller_id.is_(None), ScheduleRecalculationRequest.requested_at <= cutoff)
        .order_by(ScheduleRecalculationRequest.requested_at)
    )
    return list(session.execute(query.limit(limit)).scalars())


def due_invoices(session: Session, cutoff: dt.datetime, limit: int) -> list[uuid.UUID]:
    """Invoices of real-clock schedules queued before ``cutoff``, oldest first, skipping those another drain
    holds."""
    query = (
        select(RecalculationRequest.invoice_id)
        .join(Invoice, Invoice.id == RecalculationRequest.invoice_id)
        .join(BillingSchedule, BillingSchedule.id == Invoice.billing_schedule_id)
        .where(BillingSchedule.time_traveller_id.is_(None), RecalculationRequest.requested_at <= cutoff)
        .order_by(RecalculationRequest.requested_at)
        .limit(limit)
        .with_for_update(of=RecalculationRequest, skip_locked=True)
    )
    return list(session.execute(query).scalars())


def queued_invoices(session: Session, schedule_id: uuid.UUID) -> list[uuid.UUID]:
    query = (
        select(RecalculationRequest.invoice_id)
        .join(Invoice, Invoice.id == RecalculationRequest.invoice_id)
        .where(Invoice.billing_schedule_id == schedule_id)
    )
    return list(session.execute(query).scalars())
