"""Load a schedule's calculation inputs from PostgreSQL into the domain's typed snapshot (SPEC §4.12)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billrun.domain.drafting import phase_range
from billrun.domain.inputs import (
    MetricSpec,
    PriceSpec,
    ScheduleSpec,
    TaxRateRef,
    TaxStatus,
    metric_from_json,
    phases_from_json,
    price_from_json,
)
from billrun.domain.periods import DateRange
from billrun.domain.seats import SeatTimeline
from billrun.domain.usage import UsageValue
from billrun.store import customers as customer_repo
from billrun.store import schedules as schedule_repo
from billrun.store import usage as usage_repo
from billrun.store.models import (
    BillingSchedule,
    Price,
    UsageMetric,
)
from billrun.store.schedules import Terms

NO_TERMS = Terms([], {})


def metric_json(m: UsageMetric) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "name": m.name,
        "eventType": m.event_type,
        "aggregationType": m.aggregation_type,
        "aggregationProperty": m.aggregation_property,
        "propertyFilters": m.property_filters,
        "caseSensitive": m.case_sensitive,
        "propertiesToNegate": m.properties_to_negate,
        "metricType": m.metric_type,
        "groupingProperty": m.grouping_property,
        "updatedAt": m.updated_at.isoformat(),
    }


def price_snapshot(p: Price) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "productId": str(p.product_id),
        "name": p.name,
        "currency": p.currency,
        "structure": p.structure,
        "billingFrequency": p.billing_frequency,
        "billingType": p.billing_type,
        "usageCalculationPeriod": p.usage_calculation_period,
        # prices are immutable but for their name (SPEC §2.5): this time names the version the run read
        "updatedAt": p.updated_at.isoformat() if p.updated_at else None,
    }


@dataclass(frozen=True)
class CustomerFacts:
    """What billing reads of a customer: its tax status, and the details an invoice copies at drafting time
    (left empty when the caller only plans, see :func:`load_contexts`)."""

    id: uuid.UUID
    tax_status: str
    legal_name: str = ""
    address: dict[str, Any] | None = None
    contacts: list[Any] = field(default_factory=list)
    #: as the invoices it drafts are served (``isCustomerArchived``)
    archived: bool = False


@dataclass
class ScheduleContext:
    """Everything one calculation of one schedule reads, loaded once."""

    row: BillingSchedule
    customer: CustomerFacts
    spec: ScheduleSpec
    prices: dict[str, Price]
    metrics: dict[str, MetricSpec]
    metric_rows: dict[str, UsageMetric]
    tax_refs: dict[str, TaxRateRef]
    aliases: frozenset[str] = frozenset()
    product_names: dict[str, str] = field(default_factory=dict)

    @property
    def tax_status(self) -> TaxStatus:
        return TaxStatus(self.customer.tax_status)


def price_spec(p: Price, seat_types: dict[str, str]) -> PriceSpec:
    return price_from_json(
        str(p.id),
        p.name,
        p.currency,
        p.structure,
        p.billing_frequency,
        p.billing_type,
        product_id=str(p.product_id),
        usage_calculation_period=p.usage_calculation_period,
        seat_types=seat_types,
    )


def load_contexts(
    session: Session, schedules: list[BillingSchedule], *, with_aliases: bool = True, with_details: bool = True
) -> dict[uuid.UUID, ScheduleContext]:
    """The calculation inputs of many schedules with one query per table, not per schedule: a chunk of
    billing runs loads its schedules, phases, prices, metrics, tax rates, customers and aliases at once.
    ``with_details=False`` skips what only an invoice copies (the customer's name, address and contacts):
    planning drafting dates needs none of it."""
    if not schedules:
        return {}
    rows = schedule_repo.rows_of(session, schedules, with_aliases=with_aliases, with_details=with_details)
    return contexts_from(session, schedules, rows, with_aliases=with_aliases)


def contexts_from(
    session: Session, schedules: list[BillingSchedule], rows: schedule_repo.ScheduleRows, *, with_aliases: bool
) -> dict[uuid.UUID, ScheduleContext]:
    """:func:`load_contexts` from rows read already (a page of schedules serialised with their phases)."""
    prices, metric_rows, products = rows.prices, rows.metrics, rows.product_names
    customers = {cid: CustomerFacts(**columns) for cid, columns in rows.customers.items()}  # named as the fields
    specs_of_prices = {pid: price_spec(p, rows.seat_types) for pid, p in prices.items()}
    metric_specs = {mid: metric_from_json(mid, metric_json(m)) for mid, m in metric_rows.items()}
    tax_refs_of = {
        rate_id: TaxRateRef(str(rate_id), version.amount, str(version.id), version.version)
        for rate_id, version in rows.tax_versions.items()
    }
    contexts = {}
    for schedule in schedules:
        terms = rows.terms.get(schedule.id, NO_TERMS)
        spec_phases = phases_from_json(terms.phases)
        own_prices = {pid: prices[pid] for p in spec_phases for pid in p.price_ids if pid in prices}
        tax_refs = {
            price_id: tax_refs_of[rate]
            for price_id, rate_id in terms.tax_rates.items()
            if (rate := uuid.UUID(rate_id)) in tax_refs_of
        }
        spec = ScheduleSpec(
            id=str(schedule.id),
            start=schedule.start_date,
            end=schedule.end_date,
            recurrence_day=schedule.recurrence_day_of_month,
            phases=spec_phases,
            prices={pid: specs_of_prices[pid] for pid in own_prices},
            currency=schedule.currency,
            tax_rates=tax_refs,
            roll_up=schedule.roll_up_billing,
        )
        customer = customers[schedule.customer_id]
        if not with_aliases:
            aliases: frozenset[str] = frozenset()
        elif schedule.roll_up_billing:  # descendants: a recursive query, only for roll-up schedules
            aliases = customer_repo.alias_set(session, schedule.account_id, customer.id, True)
        else:
            aliases = frozenset([str(customer.id), *rows.direct_aliases.get(customer.id, [])])
        own_metrics = {
            m: metric_rows[m] for p in own_prices.values() if (m := p.structure.get("usageMetricId")) in metric_rows
        }
        contexts[schedule.id] = ScheduleContext(
            schedule,
            customer,
            spec,
            own_prices,
            {mid: metric_specs[mid] for mid in own_metrics},
            own_metrics,
            tax_refs,
            aliases,
            products,
        )
    return contexts


def load_context(session: Session, schedule: BillingSchedule, *, with_aliases: bool = True) -> ScheduleContext:
    return load_contexts(session, [schedule], with_aliases=with_aliases)[schedule.id]


def on_demand_days(session: Session, ctx: ScheduleContext, up_to: dt.date) -> dict[str, frozenset[dt.date]]:
    """Days with matching events for each ON_DEMAND price, within the phases that list it."""
    days: dict[str, frozenset[dt.date]] = {}
    for index, phase in enumerate(ctx.spec.phases):
        window = phase_range(ctx.spec, index)
        if window is None or window.start > up_to:
            continue
        window = DateRange(window.start, min(window.end, up_to))
        for pid in phase.price_ids:
            price = ctx.spec.prices[pid]
            if not price.is_on_demand or price.usage_metric_id not in ctx.metrics:
                continue
            found = usage_repo.event_days(
                session, ctx.row.account_id, ctx.metrics[price.usage_metric_id], ctx.aliases, window
            )
            days[pid] = days.get(pid, frozenset()) | found
    return days


class SqlRatingData:
    """:class:`billrun.domain.pricing.RatingData` answered by PostgreSQL, cached per calculation.

    A chunk hands in what it loaded in bulk for the schedule (``usage``, ``values``, ``seats``,
    ``seat_event_ids``), which may cover several of its runs; anything else is read by its own query. Either
    way, ``usage_read``, ``values_read`` and ``seats_read`` hold exactly what this calculation asked for, in
    the order it asked: the audit snapshot records those, so it is the same whichever path computed it."""

    def __init__(
        self,
        session: Session,
        ctx: ScheduleContext,
        *,
        usage: dict[tuple[str, DateRange], UsageValue] | None = None,
        values: dict[tuple[str, DateRange], tuple[Decimal | None, ...]] | None = None,
        seats: dict[str, SeatTimeline] | None = None,
        seat_event_ids: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.session, self.ctx = session, ctx
        self._usage = dict(usage or {})
        self._values = dict(values or {})
        self._seats = dict(seats or {})
        self._seat_event_ids = dict(seat_event_ids or {})
        self.usage_read: dict[tuple[str, DateRange], UsageValue] = {}
        self.values_read: dict[tuple[str, DateRange], tuple[Decimal | None, ...]] = {}
        self.seats_read: dict[str, SeatTimeline] = {}
        self.seat_event_ids: dict[str, tuple[str, ...]] = {}  # of the seat types read

    def usage(self, metric_id: str, window: DateRange) -> UsageValue:
        key = (metric_id, window)
        if key not in self._usage:
            self._usage[key] = usage_repo.aggregate(
                self.session, self.ctx.row.account_id, self.ctx.metrics[metric_id], self.ctx.aliases, window
            )
        self.usage_read[key] = self._usage[key]
        return self._usage[key]

    def event_values(self, metric_id: str, window: DateRange) -> tuple[Decimal | None, ...]:
        key = (metric_id, window)
        if key not in self._values:
            self._values[key] = usage_repo.event_values(
                self.session, self.ctx.row.account_id, self.ctx.metrics[metric_id], self.ctx.aliases, window
            )
        self.values_read[key] = self._values[key]
        return self._values[key]

    def seat_timeline(self, seat_type: str) -> SeatTimeline:
        if seat_type not in self._seats:
            rows = usage_repo.seat_rows(self.session, self.ctx.row.account_id, seat_type, self.ctx.aliases)
            self._seats[seat_type] = SeatTimeline.build(rows, seat_type, self.ctx.aliases)
            self._seat_event_ids[seat_type] = tuple(r.id for r in rows)
        self.seats_read[seat_type] = self._seats[seat_type]
        self.seat_event_ids[seat_type] = self._seat_event_ids[seat_type]
        return self._seats[seat_type]
