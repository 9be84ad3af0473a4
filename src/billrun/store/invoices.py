"""Invoice queries: an invoice's lines and groups (SPEC §2.12)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billrun.store.models import InvoiceLineItem, InvoiceLineItemGroup


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
