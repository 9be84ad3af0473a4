"""Invoice queries: an invoice's lines and groups (SPEC §2.12)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from billrun.domain.statuses import LIVE_EDITABLE, InvoiceStatus
from billrun.store.models import (
    Account,
    BillingRun,
    BillingSchedule,
    CalculationSnapshot,
    Invoice,
    InvoiceLineItem,
    InvoiceLineItemGroup,
    InvoiceNumberCounter,
)


def find(session: Session, invoice_id: uuid.UUID) -> Invoice | None:
    """Any account's invoice (operators' tools); the API reads invoices through ``store.common.owned``."""
    return session.get(Invoice, invoice_id)


def lines_of(session: Session, invoice_id: uuid.UUID) -> list[InvoiceLineItem]:
    """The invoice's lines in index order."""
    stmt = select(InvoiceLineItem).where(InvoiceLineItem.invoice_id == invoice_id).order_by(InvoiceLineItem.index)
    return list(session.execute(stmt).scalars())


def groups_of(session: Session, invoice_id: uuid.UUID) -> list[InvoiceLineItemGroup]:
    """The invoice's line-item groups in index order."""
    stmt = (
        select(InvoiceLineItemGroup)
        .where(InvoiceLineItemGroup.invoice_id == invoice_id)
        .order_by(InvoiceLineItemGroup.index)
    )
    return list(session.execute(stmt).scalars())


def line_count(session: Session, invoice_id: uuid.UUID) -> int:
    return int(session.execute(select(func.count()).where(InvoiceLineItem.invoice_id == invoice_id)).scalar_one())


def group_count(session: Session, invoice_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(InvoiceLineItemGroup.invoice_id == invoice_id)
    return int(session.execute(stmt).scalar_one())


def group_holds_lines(session: Session, group_id: uuid.UUID) -> bool:
    stmt = select(InvoiceLineItem.id).where(InvoiceLineItem.group_id == group_id).limit(1)
    return session.execute(stmt).first() is not None


def latest_snapshot(session: Session, invoice_id: uuid.UUID) -> tuple[CalculationSnapshot | None, int]:
    """The invoice's latest calculation snapshot, and how many calculations it has had."""
    latest = session.execute(
        select(CalculationSnapshot)
        .where(CalculationSnapshot.invoice_id == invoice_id)
        .order_by(CalculationSnapshot.created_at.desc(), CalculationSnapshot.id.desc())
        .limit(1)
    ).scalar()
    count = session.execute(select(func.count()).where(CalculationSnapshot.invoice_id == invoice_id)).scalar_one()
    return latest, count


def live_of_schedule(session: Session, schedule_id: uuid.UUID) -> list[uuid.UUID]:
    """Ids of the schedule's DRAFT and IN_PROGRESS invoices."""
    query = select(Invoice.id).where(Invoice.billing_schedule_id == schedule_id, Invoice.status.in_(LIVE_EDITABLE))
    return list(session.execute(query).scalars())


def drop_engine_lines(session: Session, invoice_id: uuid.UUID) -> None:
    """Delete the invoice's ENGINE lines and every group: what a calculation writes again."""
    session.execute(
        delete(InvoiceLineItem).where(InvoiceLineItem.invoice_id == invoice_id, InvoiceLineItem.source == "ENGINE")
    )
    session.execute(delete(InvoiceLineItemGroup).where(InvoiceLineItemGroup.invoice_id == invoice_id))


def next_number(session: Session, account_id: uuid.UUID) -> int:
    """The account's next invoice number; its counter row stays locked until the transaction ends, so an
    aborted transaction uses no number (gapless, SPEC §4.14)."""
    session.execute(
        insert(InvoiceNumberCounter)
        .values(account_id=account_id, last_value=0)
        .on_conflict_do_nothing(index_elements=["account_id"])
    )
    counter = session.execute(
        update(InvoiceNumberCounter)
        .where(InvoiceNumberCounter.account_id == account_id)
        .values(last_value=InvoiceNumberCounter.last_value + 1)
        .returning(InvoiceNumberCounter.last_value)
    )
    return int(counter.scalar_one())


def auto_issue_candidates(session: Session, schedule_id: uuid.UUID | None) -> list[tuple[Invoice, dt.datetime, int]]:
    """DRAFTs of ``autoIssueInvoices`` schedules, locked (skipping those locked elsewhere), with their run's
    scheduled time and their account's grace period in seconds: of real-clock schedules when ``schedule_id``
    is None, else of that schedule."""
    query = (
        select(Invoice, BillingRun.scheduled_run_time, Account.auto_issue_grace_seconds)
        .join(BillingSchedule, BillingSchedule.id == Invoice.billing_schedule_id)
        .join(BillingRun, BillingRun.id == Invoice.billing_run_id)
        .join(Account, Account.id == Invoice.account_id)
        .where(Invoice.status == InvoiceStatus.DRAFT, BillingSchedule.auto_issue_invoices.is_(True))
        .with_for_update(of=Invoice, skip_locked=True)
    )
    if schedule_id is None:
        query = query.where(BillingSchedule.time_traveller_id.is_(None))
    else:
        query = query.where(BillingSchedule.id == schedule_id)
    return [(invoice, run_time, grace) for invoice, run_time, grace in session.execute(query).all()]
