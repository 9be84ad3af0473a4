"""Catalog queries: which prices and metrics are in use."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from billrun.store.models import InvoiceLineItem, Price, SchedulePhase, ScheduleTaxRate, SeatMetric


def price_in_use(session: Session, account_id: uuid.UUID, price_id: str) -> bool:
    """Whether any schedule phase lists the price (such a price cannot be deleted, SPEC §2.4)."""
    stmt = select(func.count()).where(
        SchedulePhase.account_id == account_id, SchedulePhase.price_ids.contains([price_id])
    )
    return bool(session.execute(stmt).scalar_one())


def metric_in_use(session: Session, account_id: uuid.UUID, metric_id: str) -> bool:
    stmt = select(func.count()).where(
        Price.account_id == account_id, text("prices.structure ->> 'usageMetricId' = :metric")
    )
    return bool(session.execute(stmt, {"metric": metric_id}).scalar_one())


def seat_metric_in_use(session: Session, account_id: uuid.UUID, metric_id: str) -> bool:
    """Whether a price charges for this seat metric (such a metric cannot be deleted)."""
    stmt = select(func.count()).where(
        Price.account_id == account_id, text("prices.structure ->> 'seatMetricId' = :metric")
    )
    return bool(session.execute(stmt, {"metric": metric_id}).scalar_one())


def tax_rate_in_use(session: Session, account_id: uuid.UUID, rate_id: uuid.UUID) -> bool:
    """Whether a schedule maps a price to this rate or an invoice line names it (such a rate can be archived,
    not deleted: its invoices must keep saying which rate taxed them)."""
    mapped = select(ScheduleTaxRate.price_id).where(
        ScheduleTaxRate.account_id == account_id, ScheduleTaxRate.tax_rate_id == rate_id
    )
    named = select(InvoiceLineItem.id).where(
        InvoiceLineItem.account_id == account_id, InvoiceLineItem.tax_rate_id == rate_id
    )
    return bool(session.execute(select(mapped.exists() | named.exists())).scalar())


def seat_types(session: Session, account_id: uuid.UUID) -> set[str]:
    """The account's seat types (those its seat metrics define)."""
    return set(session.execute(select(SeatMetric.seat_type).where(SeatMetric.account_id == account_id)).scalars())
