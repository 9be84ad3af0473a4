"""Billing schedules and what they bill: phases, discounts, minimums, tax mappings, and the prices, metrics,
customers and products they name, read for many schedules with one query per table."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from billrun.domain.statuses import ScheduleStatus
from billrun.store import taxes
from billrun.store.common import one_of
from billrun.store.models import (
    BillingSchedule,
    Customer,
    CustomerAlias,
    PhaseDiscount,
    PhaseMinimum,
    Price,
    Product,
    SchedulePhase,
    ScheduleTaxRate,
    SeatMetric,
    TaxRateVersion,
    UsageMetric,
)


@dataclass
class ScheduleRows:
    """The stored rows behind a set of schedules' calculations. Per-schedule tables are plain rows grouped by
    schedule id (nothing keeps or writes them, and a chunk reads hundreds); catalog rows are keyed by id."""

    phases: dict[uuid.UUID, list[Row[Any]]]
    discounts: dict[uuid.UUID, list[Row[Any]]]
    minimums: dict[uuid.UUID, list[Row[Any]]]
    tax_mappings: dict[uuid.UUID, list[Row[Any]]]
    prices: dict[str, Price]
    seat_types: dict[str, str]  # seat metric id -> seat type
    metrics: dict[str, UsageMetric]
    tax_versions: dict[uuid.UUID, TaxRateVersion]  # tax rate id -> its current version
    customers: dict[uuid.UUID, dict[str, Any]]  # the selected customer columns, by attribute name
    product_names: dict[str, str]
    direct_aliases: dict[uuid.UUID, list[str]] = field(default_factory=dict)  # customer id -> live aliases


def _grouped(rows: Iterable[Row[Any]]) -> dict[uuid.UUID, list[Row[Any]]]:
    out: dict[uuid.UUID, list[Row[Any]]] = {}
    for row in rows:
        out.setdefault(row.billing_schedule_id, []).append(row)
    return out


def rows_of(
    session: Session, schedules: Sequence[BillingSchedule], *, with_aliases: bool, with_details: bool
) -> ScheduleRows:
    """``with_details``: the customer's name, address and contacts too (what only an invoice copies)."""
    ids = [s.id for s in schedules]
    accounts = {s.account_id for s in schedules}
    phases = _grouped(
        session.execute(
            select(SchedulePhase.__table__)
            .where(one_of(SchedulePhase.billing_schedule_id, ids))
            .order_by(SchedulePhase.position)
        )
    )
    discounts = _grouped(
        session.execute(
            select(PhaseDiscount.__table__)
            .where(one_of(PhaseDiscount.billing_schedule_id, ids))
            .order_by(PhaseDiscount.position)
        )
    )
    minimums = _grouped(
        session.execute(
            select(PhaseMinimum.__table__)
            .where(one_of(PhaseMinimum.billing_schedule_id, ids))
            .order_by(PhaseMinimum.position)
        )
    )
    mappings = _grouped(
        session.execute(select(ScheduleTaxRate.__table__).where(one_of(ScheduleTaxRate.billing_schedule_id, ids)))
    )
    price_ids = {uuid.UUID(pid) for rows in phases.values() for p in rows for pid in p.price_ids}
    prices = {str(p.id): p for p in session.execute(select(Price).where(one_of(Price.id, price_ids))).scalars()}
    seat_types = {
        str(m.id): m.seat_type
        for m in session.execute(select(SeatMetric).where(one_of(SeatMetric.account_id, accounts))).scalars()
    }
    metric_ids = {uuid.UUID(m) for p in prices.values() if (m := p.structure.get("usageMetricId"))}
    metrics = {
        str(m.id): m for m in session.execute(select(UsageMetric).where(one_of(UsageMetric.id, metric_ids))).scalars()
    }
    versions = taxes.current_versions(session, list({m.tax_rate_id for rows in mappings.values() for m in rows}))
    customer_columns: list[Any] = [Customer.id, Customer.tax_status]
    if with_details:
        customer_columns += [
            Customer.legal_name,
            Customer.address,
            Customer.contacts,
            Customer.archived_at.is_not(None).label("archived"),
        ]
    customer_ids = {s.customer_id for s in schedules}
    customers = {
        row.id: dict(row._mapping)
        for row in session.execute(select(*customer_columns).where(one_of(Customer.id, customer_ids)))
    }
    product_ids = {p.product_id for p in prices.values()}
    products = {
        str(p.id): p.name for p in session.execute(select(Product).where(one_of(Product.id, product_ids))).scalars()
    }
    out = ScheduleRows(
        phases, discounts, minimums, mappings, prices, seat_types, metrics, versions, customers, products
    )
    if with_aliases:
        query = select(CustomerAlias.customer_id, CustomerAlias.value).where(
            one_of(CustomerAlias.customer_id, customers), CustomerAlias.deleted_at.is_(None)
        )
        for customer_id, value in session.execute(query).all():
            out.direct_aliases.setdefault(customer_id, []).append(value)
    return out


def delete_terms(session: Session, schedule_id: uuid.UUID) -> None:
    """Delete the schedule's phases, discounts, minimums and tax mappings, before writing them anew."""
    for table in (PhaseDiscount, PhaseMinimum, SchedulePhase, ScheduleTaxRate):
        session.execute(delete(table).where(table.billing_schedule_id == schedule_id))
    session.flush()


def active_real_clock(session: Session, account_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    """Ids of the ACTIVE, unarchived schedules on the real clock (of one account, or all), in id order."""
    query = select(BillingSchedule.id).where(
        BillingSchedule.status == ScheduleStatus.ACTIVE,
        BillingSchedule.time_traveller_id.is_(None),
        BillingSchedule.archived_at.is_(None),
    )
    if account_id is not None:
        query = query.where(BillingSchedule.account_id == account_id)
    return list(session.execute(query.order_by(BillingSchedule.id)).scalars())


def awaiting_transition(session: Session, today: dt.date) -> list[BillingSchedule]:
    """Real-clock schedules that may change status today (PENDING ones, and ACTIVE ones past their end),
    locked, skipping those another transaction holds."""
    query = select(BillingSchedule).where(
        BillingSchedule.status.in_([ScheduleStatus.PENDING, ScheduleStatus.ACTIVE]),
        BillingSchedule.time_traveller_id.is_(None),
        BillingSchedule.archived_at.is_(None),
        (BillingSchedule.status == ScheduleStatus.PENDING) | (BillingSchedule.end_date < today),
    )
    return list(session.execute(query.with_for_update(skip_locked=True)).scalars())


def active_of_customer(session: Session, customer_id: uuid.UUID) -> list[BillingSchedule]:
    """The customer's ACTIVE, unarchived schedules, oldest first."""
    query = select(BillingSchedule).where(
        BillingSchedule.customer_id == customer_id,
        BillingSchedule.status == ScheduleStatus.ACTIVE,
        BillingSchedule.archived_at.is_(None),
    )
    return list(session.execute(query.order_by(BillingSchedule.created_at, BillingSchedule.id)).scalars())
