"""Creating and editing billing schedules (SPEC §2.11, §4.15)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billrun.billing import planning, recalculation, travel, travellers
from billrun.billing.clock import real_now, schedule_now
from billrun.billing.dispatch import advance_after_commit
from billrun.billing.errors import Refused
from billrun.billing.loading import load_context
from billrun.domain.statuses import AMENDABLE, LIVE_EDITABLE, OUTSTANDING, RunStatus, ScheduleStatus
from billrun.store import runs as run_repo
from billrun.store import schedules as schedule_repo
from billrun.store.models import (
    BillingSchedule,
    Invoice,
    PhaseDiscount,
    PhaseMinimum,
    Price,
    SchedulePhase,
    ScheduleTaxRate,
    TimeTraveller,
)


@dataclass
class DiscountInput:
    type: str
    amount: Decimal
    message: str
    separate_line_item: bool
    restrict_to_prices: list[str]


@dataclass
class MinimumInput:
    amount: Decimal
    restrict_to_prices: list[str]


@dataclass
class PhaseInput:
    price_ids: list[str]
    start_date: dt.date
    end_date: dt.date | None
    recurrence_preference: str
    discounts: list[DiscountInput] = field(default_factory=list)
    minimums: list[MinimumInput] = field(default_factory=list)
    sequence_fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScheduleInput:
    customer_id: uuid.UUID | None
    start_date: dt.date
    end_date: dt.date | None
    recurrence_day: int
    tax_rates: list[tuple[str, uuid.UUID]]
    phases: list[PhaseInput]
    auto_issue_invoices: bool
    is_draft: bool
    roll_up_billing: bool
    purchase_order_number: str | None
    reference: str | None
    label: str | None
    payment_provider: str | None
    auto_charge: bool
    currency: str
    prices: dict[str, Price]
    time_traveller: TimeTraveller | None = None
    sequence_fields: dict[str, Any] = field(default_factory=dict)


def initial_status(parsed_is_draft: bool, start: dt.date, today: dt.date) -> str:
    """DRAFT if asked; otherwise PENDING before the start date, else ACTIVE (SPEC §4.15)."""
    if parsed_is_draft:
        return ScheduleStatus.DRAFT
    return ScheduleStatus.PENDING if start > today else ScheduleStatus.ACTIVE


def _write_children(session: Session, schedule: BillingSchedule, parsed: ScheduleInput) -> None:
    schedule_repo.delete_terms(session, schedule.id)
    now = real_now()
    for position, phase in enumerate(parsed.phases):
        row = SchedulePhase(
            id=uuid.uuid4(),
            account_id=schedule.account_id,
            billing_schedule_id=schedule.id,
            position=position,
            start_date=phase.start_date,
            end_date=phase.end_date,
            price_ids=phase.price_ids,
            recurrence_preference=phase.recurrence_preference,
            sequence_fields=phase.sequence_fields,
            created_at=now,
        )
        session.add(row)
        session.flush()
        for i, d in enumerate(phase.discounts):
            session.add(
                PhaseDiscount(
                    account_id=schedule.account_id,
                    billing_schedule_id=schedule.id,
                    phase_id=row.id,
                    position=i,
                    type=d.type,
                    amount=d.amount,
                    message=d.message,
                    separate_line_item=d.separate_line_item,
                    restrict_to_prices=d.restrict_to_prices,
                    created_at=now,
                )
            )
        for i, m in enumerate(phase.minimums):
            session.add(
                PhaseMinimum(
                    account_id=schedule.account_id,
                    billing_schedule_id=schedule.id,
                    phase_id=row.id,
                    position=i,
                    amount=m.amount,
                    restrict_to_prices=m.restrict_to_prices,
                    created_at=now,
                    updated_at=now,
                )
            )
    for price_id, tax_rate_id in parsed.tax_rates:
        session.add(
            ScheduleTaxRate(
                billing_schedule_id=schedule.id,
                price_id=uuid.UUID(price_id),
                account_id=schedule.account_id,
                tax_rate_id=tax_rate_id,
            )
        )
    session.flush()


def _apply_fields(schedule: BillingSchedule, parsed: ScheduleInput) -> None:
    schedule.start_date = parsed.start_date
    schedule.end_date = parsed.end_date
    schedule.recurrence_day_of_month = parsed.recurrence_day
    schedule.currency = parsed.currency
    schedule.auto_issue_invoices = parsed.auto_issue_invoices
    schedule.roll_up_billing = parsed.roll_up_billing
    schedule.purchase_order_number = parsed.purchase_order_number
    schedule.reference = parsed.reference
    schedule.label = parsed.label
    schedule.payment_provider = parsed.payment_provider
    schedule.auto_charge = parsed.auto_charge
    schedule.sequence_fields = parsed.sequence_fields


def create_schedule(session: Session, account_id: uuid.UUID, parsed: ScheduleInput) -> BillingSchedule:
    now = real_now()
    traveller = parsed.time_traveller
    assert parsed.customer_id is not None
    schedule = BillingSchedule(
        id=uuid.uuid4(),
        account_id=account_id,
        customer_id=parsed.customer_id,
        status=ScheduleStatus.DRAFT,
        start_date=parsed.start_date,
        recurrence_day_of_month=1,
        currency=parsed.currency,
        created_at=now,
        updated_at=now,
        time_traveller_id=traveller.id if traveller else None,
    )
    _apply_fields(schedule, parsed)
    session.add(schedule)
    session.flush()
    _write_children(session, schedule, parsed)
    clock = schedule_now(session, schedule) if traveller is None else traveller.frozen_time
    schedule.status = initial_status(parsed.is_draft, parsed.start_date, clock.date())
    schedule.next_drafting_date = planning.initial_next_drafting_date(
        load_context(session, schedule, with_aliases=False)
    )
    if traveller is not None:
        traveller.billing_schedule_id = schedule.id
        traveller.updated_at = now
        if travel.has_work(session, traveller):
            travellers.start(session, traveller)
    return schedule


def ensure_amendable(schedule: BillingSchedule) -> None:
    if schedule.status not in AMENDABLE:
        raise Refused(f"a {schedule.status} schedule cannot be edited", "invalidStatusTransition", "status")


def update_schedule(session: Session, schedule: BillingSchedule, parsed: ScheduleInput) -> None:
    """Edit a DRAFT, PENDING or ACTIVE schedule, then recompute its drafting dates: vanished SCHEDULED and
    FAILED runs are DEPRECATED, vanished COMPLETED runs lose their DRAFT invoice, surviving DRAFTs are
    recalculated; FINAL, SENT and VOIDED invoices never change (SPEC §4.15)."""
    now = real_now()
    _apply_fields(schedule, parsed)
    _write_children(session, schedule, parsed)
    schedule.updated_at = now
    ctx = load_context(session, schedule)
    clock = schedule_now(session, schedule)
    horizon = max([clock.date(), *(r.intended_drafting_date for r in run_repo.runs_of(session, schedule.id))])
    valid = {d for d, *_ in planning.planned_runs(session, ctx, horizon)}
    vanished = [r for r in run_repo.runs_of(session, schedule.id) if r.intended_drafting_date not in valid]
    for run in vanished:
        if run.status == RunStatus.COMPLETED and run.invoice_id is not None:
            invoice = session.get(Invoice, run.invoice_id, with_for_update=True)
            if invoice is not None and invoice.status in LIVE_EDITABLE:
                session.delete(invoice)
                run.invoice_id = None
        if run.status in (*OUTSTANDING, RunStatus.COMPLETED):
            run.status = RunStatus.DEPRECATED
            run.updated_at = now
    last = max(
        (r.intended_drafting_date for r in run_repo.runs_of(session, schedule.id) if r.status != RunStatus.DEPRECATED),
        default=None,
    )
    from billrun.domain import drafting

    schedule.next_drafting_date = (
        drafting.next_drafting_date(ctx.spec, last) if last else drafting.first_drafting_date(ctx.spec)
    )
    recalculation.request_for_schedule(session, schedule)
    if schedule.time_traveller_id is not None:
        advance_after_commit(session, schedule.time_traveller_id)


def activate(session: Session, schedule: BillingSchedule) -> None:
    """DRAFT to PENDING or ACTIVE, by the start date and the schedule's clock."""
    if schedule.status != ScheduleStatus.DRAFT:
        raise Refused(
            f"only DRAFT schedules can be activated (this one is {schedule.status})",
            "invalidStatusTransition",
            "status",
        )
    schedule.status = initial_status(False, schedule.start_date, schedule_now(session, schedule).date())
    schedule.updated_at = real_now()


def archive(session: Session, schedule: BillingSchedule) -> None:
    """Archived (again: a no-op), CANCELLED unless COMPLETED; its runs not billed yet are DEPRECATED."""
    now = real_now()
    schedule.archived_at = schedule.archived_at or now
    if schedule.status != ScheduleStatus.COMPLETED:
        schedule.status = ScheduleStatus.CANCELLED
    pending = [r.id for r in run_repo.runs_of(session, schedule.id) if r.status in OUTSTANDING]
    run_repo.deprecate_runs(session, pending, now)
    schedule.updated_at = now
