"""Hand edits of invoices: MANUAL lines on any DRAFT invoice, and line-item groups on manual DRAFT invoices
(SPEC §2.12). Each use case takes the locked invoice and plain column values, keeps the invoice's and its
groups' totals in step with its lines, and refuses with :class:`EditRefused` or
:class:`~billrun.billing.errors.TransitionRefused`; HTTP is the caller's business."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billrun.billing import outbox
from billrun.billing.clock import real_now
from billrun.billing.errors import Refused, TransitionRefused
from billrun.billing.invoicing import customer_emails
from billrun.domain.money import round_money
from billrun.domain.statuses import EventType, InvoiceStatus
from billrun.store import invoices as repo
from billrun.store.models import Customer, Invoice, InvoiceLineItem, InvoiceLineItemGroup
from billrun.views.invoices import one_invoice_json

ZERO = Decimal(0)


class EditRefused(Refused):
    """A hand edit that the invoice's state forbids."""


def _require_draft(invoice: Invoice, action: str) -> None:
    if invoice.status != InvoiceStatus.DRAFT:
        raise TransitionRefused(invoice.status, action)


def _require_manual(line: InvoiceLineItem, action: str) -> None:
    if line.source != "MANUAL":
        raise EditRefused(f"engine lines are recomputed and cannot be {action}", "invalidStatusTransition")


def require_groups_editable(invoice: Invoice) -> None:
    """Groups are written by hand on manual DRAFT invoices only: a billed invoice's groups, one per product,
    are replaced with its engine lines by every recalculation (billing.invoicing.apply_draft)."""
    if invoice.drafting_date is not None:
        raise EditRefused("a billed invoice's groups are recomputed by billing and cannot be edited", "immutable")
    _require_draft(invoice, "edit line-item groups of")


def _reprice(line: InvoiceLineItem, currency: str) -> None:
    line.net_total = round_money(line.quantity * line.rate, currency)
    line.total_tax = round_money(line.net_total * (line.tax_rate or 0), currency)
    line.gross_total = line.net_total + line.total_tax


def _retotal(session: Session, invoice: Invoice) -> None:
    """The invoice's and its groups' totals from its lines."""
    session.flush()
    lines = repo.lines_of(session, invoice.id)
    for group in repo.groups_of(session, invoice.id):
        members = [ln for ln in lines if ln.group_id == group.id]
        group.net_total = sum((ln.net_total for ln in members), ZERO)
        group.total_tax = sum((ln.total_tax for ln in members), ZERO)
        group.gross_total = group.net_total + group.total_tax
    invoice.net_total = sum((ln.net_total for ln in lines), ZERO)
    invoice.total_tax = sum((ln.total_tax for ln in lines), ZERO)
    invoice.gross_total = invoice.net_total + invoice.total_tax
    invoice.updated_at = real_now()


def add_line(session: Session, invoice: Invoice, fields: dict[str, Any]) -> InvoiceLineItem:
    """A MANUAL line from its columns (title, quantity, rate, and what else the request gave)."""
    _require_draft(invoice, "add lines to")
    line = InvoiceLineItem(
        id=uuid.uuid4(),
        account_id=invoice.account_id,
        invoice_id=invoice.id,
        index=repo.line_count(session, invoice.id),
        discount_total=ZERO,
        kind="MANUAL",
        source="MANUAL",
        **{"rate_display": "ABSOLUTE", "tax_rate": ZERO, **fields},
    )
    _reprice(line, invoice.currency)
    session.add(line)
    _retotal(session, invoice)
    return line


def update_line(session: Session, invoice: Invoice, line: InvoiceLineItem, fields: dict[str, Any]) -> None:
    _require_manual(line, "edited")
    _require_draft(invoice, "edit lines of")
    for column, value in fields.items():
        setattr(line, column, value)
    _reprice(line, invoice.currency)
    _retotal(session, invoice)


def delete_line(session: Session, invoice: Invoice, line: InvoiceLineItem) -> None:
    _require_manual(line, "deleted")
    _require_draft(invoice, "delete lines of")
    session.delete(line)
    _retotal(session, invoice)


def add_group(session: Session, invoice: Invoice, fields: dict[str, Any]) -> InvoiceLineItemGroup:
    require_groups_editable(invoice)
    group = InvoiceLineItemGroup(
        account_id=invoice.account_id,
        invoice_id=invoice.id,
        product_id=None,
        index=repo.group_count(session, invoice.id),
        net_total=ZERO,
        total_tax=ZERO,
        gross_total=ZERO,
        **fields,
    )
    session.add(group)
    session.flush()
    return group


def update_group(invoice: Invoice, group: InvoiceLineItemGroup, fields: dict[str, Any]) -> None:
    require_groups_editable(invoice)
    for column, value in fields.items():
        setattr(group, column, value)


def delete_group(session: Session, invoice: Invoice, group: InvoiceLineItemGroup) -> None:
    require_groups_editable(invoice)
    if repo.group_holds_lines(session, group.id):
        raise EditRefused("the group still holds lines; move or delete them first", "inUse")
    session.delete(group)


def create_invoice(
    session: Session,
    customer: Customer,
    currency: str,
    schedule_id: uuid.UUID | None,
    period: tuple[dt.date | None, dt.date | None],
    fields: dict[str, Any],
) -> Invoice:
    """A manual DRAFT invoice for ``customer``, with the customer's details as of now unless ``fields`` (the
    request's document columns) give it its own."""
    now = real_now()
    document = {
        "customer_emails": customer_emails(customer.contacts),
        "customer_legal_company_name": customer.legal_name,
        "customer_billing_address": customer.address,
        **fields,
    }
    invoice = Invoice(
        id=uuid.uuid4(),
        account_id=customer.account_id,
        customer_id=customer.id,
        billing_schedule_id=schedule_id,
        currency=currency,
        status=InvoiceStatus.DRAFT,
        customer_tax_status=customer.tax_status,
        billing_period_start=period[0],
        billing_period_end=period[1],
        calculated_at=now,
        created_at=now,
        updated_at=now,
        **document,
    )
    session.add(invoice)
    session.flush()
    outbox.publish(
        session, invoice.account_id, EventType.INVOICE_DRAFTED, lambda: one_invoice_json(session, invoice), invoice.id
    )
    return invoice
