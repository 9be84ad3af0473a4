"""Invoice lifecycle actions and gapless numbering (SPEC §4.14)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session

from billrun.billing import outbox, recalculation
from billrun.billing.clock import real_now, schedule_now
from billrun.billing.errors import TransitionRefused
from billrun.domain.statuses import ISSUED, LIVE_EDITABLE, EventType, InvoiceStatus, PaymentStatus
from billrun.store import invoices as invoice_repo
from billrun.store import runs as run_repo
from billrun.store.models import Account, BillingSchedule, Invoice
from billrun.views.invoices import one_invoice_json

#: What each action reports (finalize-and-send does both).
EVENTS = {
    "finalize": (EventType.INVOICE_FINALIZED,),
    "send": (EventType.INVOICE_SENT,),
    "finalize-and-send": (EventType.INVOICE_FINALIZED, EventType.INVOICE_SENT),
    "void": (EventType.INVOICE_VOIDED,),
    "draft": (),
}
TRANSITIONS = {
    "finalize": ({InvoiceStatus.DRAFT}, InvoiceStatus.FINAL),
    "send": ({InvoiceStatus.FINAL}, InvoiceStatus.SENT),
    "finalize-and-send": ({InvoiceStatus.DRAFT}, InvoiceStatus.SENT),
    "void": ({InvoiceStatus.DRAFT, InvoiceStatus.FINAL, InvoiceStatus.SENT}, InvoiceStatus.VOIDED),
    "draft": ({InvoiceStatus.IN_PROGRESS}, InvoiceStatus.DRAFT),
}


def next_invoice_number(session: Session, account: Account) -> str:
    """``<prefix><counter>``, zero-padded to 6 digits. The counter row is locked and incremented in the
    status-change transaction, so an aborted finalize uses no number (SPEC §4.14)."""
    value = invoice_repo.next_number(session, account.id)
    return f"{account.invoice_number_prefix}{value:06d}"


def _clock(session: Session, invoice: Invoice) -> dt.datetime:
    if invoice.billing_schedule_id is not None:
        schedule = session.get(BillingSchedule, invoice.billing_schedule_id)
        if schedule is not None:
            return schedule_now(session, schedule)
    return real_now()


def apply_action(session: Session, invoice: Invoice, action: str) -> None:
    allowed, target = TRANSITIONS[action]
    if invoice.status not in allowed:
        raise TransitionRefused(invoice.status, action)
    if action == "void" and invoice.payment_status not in (PaymentStatus.UNPAID, PaymentStatus.UNCOLLECTIBLE):
        raise TransitionRefused(f"{invoice.status}/{invoice.payment_status}", action)
    account = session.get(Account, invoice.account_id)
    assert account is not None
    now = _clock(session, invoice)
    if action in ("finalize", "finalize-and-send"):
        invoice.invoice_number = next_invoice_number(session, account)
        invoice.issue_date = now.date()
        if not (invoice.sequence_fields.get("dueDateSet") and invoice.due_date):
            invoice.due_date = now.date() + dt.timedelta(days=_payment_terms(session, invoice, account))
    if action == "void" and invoice.invoice_number is None:
        invoice.invoice_number = next_invoice_number(session, account)
    invoice.status = target
    invoice.updated_at = real_now()
    for event in EVENTS[action]:
        outbox.publish(session, invoice.account_id, event, lambda: one_invoice_json(session, invoice), invoice.id)


def _payment_terms(session: Session, invoice: Invoice, account: Account) -> int:
    """Days from issue to due: the schedule's ``defaultDueDateDays`` if it has one, else the account's terms."""
    if invoice.billing_schedule_id is not None:
        schedule = session.get(BillingSchedule, invoice.billing_schedule_id)
        days = schedule.sequence_fields.get("defaultDueDateDays") if schedule is not None else None
        if isinstance(days, int):
            return days
    return account.payment_term_days


def delete_invoice(session: Session, invoice: Invoice) -> None:
    """IN_PROGRESS and DRAFT only; the run stays COMPLETED with ``invoiceId: null``."""
    if invoice.status not in LIVE_EDITABLE:
        raise TransitionRefused(invoice.status, "delete")
    run_repo.unlink_invoice(session, invoice.id)
    outbox.publish(
        session, invoice.account_id, EventType.INVOICE_DELETED, one_invoice_json(session, invoice), invoice.id
    )
    session.delete(invoice)


def auto_issue_due(session: Session, now: dt.datetime, schedule_id: uuid.UUID | None = None) -> int:
    """finalize-and-send the DRAFTs of ``autoIssueInvoices`` schedules once ``now >= scheduledRunTime +
    autoIssueGracePeriod`` (SPEC §4.14). Without ``schedule_id``: real-clock schedules only (the beat);
    with it: that schedule, on its own clock (a time traveller)."""
    issued = 0
    for invoice, run_time, grace in invoice_repo.auto_issue_candidates(session, schedule_id):
        if now >= run_time + dt.timedelta(seconds=grace):
            apply_action(session, invoice, "finalize-and-send")
            issued += 1
    return issued


def return_to_draft(session: Session, invoice: Invoice) -> bool:
    """The ``draft`` action: an IN_PROGRESS invoice back to DRAFT, recalculated first, as billing would have
    left it (SPEC §5.7). False when the recalculation deleted it because it bills nothing any more."""
    apply_action(session, invoice, "draft")
    invoice.status = InvoiceStatus.IN_PROGRESS  # recalculated as the edited invoice it still is, then released
    if not recalculation.recalculate_invoice(session, invoice):
        return False
    invoice.status = InvoiceStatus.DRAFT
    return True


def edit_document(invoice: Invoice, fields: dict[str, Any]) -> None:
    """Set an invoice's document columns (memo, reference, addresses, dates...): DRAFT and IN_PROGRESS only."""
    if invoice.status not in LIVE_EDITABLE:
        raise TransitionRefused(invoice.status, "edit")
    for column, value in fields.items():
        setattr(invoice, column, value)
    invoice.updated_at = real_now()


def set_payment_status(invoice: Invoice, status: PaymentStatus) -> None:
    """Recorded on issued invoices (FINAL, SENT) only."""
    if invoice.status not in ISSUED:
        raise TransitionRefused(invoice.status, "set the payment status of")
    invoice.payment_status = status
    invoice.updated_at = real_now()
