"""Usage to date (``GET /customers/{id}/current-usage``): for each ACTIVE schedule of a customer, the usage
prices' lines of the period that holds the schedule clock's today, rated from the events dated up to today
(inclusive) by the same aggregation and pricing a run uses. Amounts are before discounts, minimums and tax,
which apply to the whole invoice once the period ends."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy.orm import Session

from billrun.billing.clock import schedule_now
from billrun.billing.loading import SqlRatingData, load_context
from billrun.domain.drafting import DueItem, ItemKind, due_items
from billrun.domain.money import round_money
from billrun.domain.periods import DateRange
from billrun.domain.pricing import ExactLine, rate_item
from billrun.store import schedules as schedule_repo
from billrun.store.models import Customer


@dataclass(frozen=True)
class PriceUsage:
    """One usage price's current period: the metric's value so far and the lines it rates to."""

    price_id: str
    price_name: str
    pricing_type: str
    metric_id: str
    metric_name: str
    item: DueItem
    value: str
    event_count: int
    lines: list[ExactLine]
    amount: Decimal  # the lines' rounded amounts added up


@dataclass(frozen=True)
class ScheduleUsage:
    schedule_id: uuid.UUID
    currency: str
    today: dt.date
    prices: list[PriceUsage]


def current_usage(session: Session, customer: Customer) -> list[ScheduleUsage]:
    found = []
    for schedule in schedule_repo.active_of_customer(session, customer.id):
        ctx = load_context(session, schedule)
        today = schedule_now(session, schedule).date()
        data = SqlRatingData(session, ctx)
        prices = []
        for item in due_items(ctx.spec, today):
            price = ctx.spec.prices.get(item.price_id or "")
            if price is None or price.usage_metric_id is None or item.kind != ItemKind.CHARGE:
                continue
            if today not in item.service:
                continue
            so_far = replace(item, service=DateRange(item.service.start, today))  # no event dated after today
            lines = rate_item(ctx.spec, so_far, data, [])
            measured = data.usage(price.usage_metric_id, so_far.service)
            amount = sum(
                (round_money(line.quantity * line.rate, ctx.spec.currency) for line in lines),
                Decimal(0),
            )
            metric = ctx.metrics.get(price.usage_metric_id)
            prices.append(
                PriceUsage(
                    price.id,
                    price.name,
                    price.pricing_type.value,
                    price.usage_metric_id,
                    metric.name if metric else "",
                    item,
                    format(measured.value, "f"),
                    measured.event_count,
                    lines,
                    amount,
                )
            )
        found.append(ScheduleUsage(schedule.id, ctx.spec.currency, today, prices))
    return found
