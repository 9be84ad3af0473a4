"""``GET /customers/{id}/current-usage``: what a customer has used so far this period, per schedule and usage
price (``billing.current_usage``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from billrun.api.errors import not_found
from billrun.api.http import Caller, JSONResponse, caller
from billrun.billing.current_usage import PriceUsage, current_usage
from billrun.domain.money import money_str, round_money
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import Customer
from billrun.views.serialize import day, plain

router = APIRouter()


def _price_json(p: PriceUsage, currency: str) -> dict[str, Any]:
    tiers = [line.tier for line in p.lines if line.tier is not None and line.quantity != 0]
    return {
        "priceId": p.price_id,
        "priceName": p.price_name,
        "pricingType": p.pricing_type,
        "usageMetricId": p.metric_id,
        "usageMetricName": p.metric_name,
        "period": {"start": day(p.item.service.start), "endInclusive": day(p.item.service.end)},
        "draftingDate": day(p.item.drafting_date),
        "value": p.value,
        "eventCount": p.event_count,
        "tierReached": max(tiers) if tiers else None,
        "lines": [
            {
                "title": line.title,
                "quantity": plain(line.quantity),
                "rate": plain(line.rate),
                "rateDisplay": line.rate_display,
                "tier": line.tier,
                "amount": money_str(round_money(line.quantity * line.rate, currency), currency),
            }
            for line in p.lines
        ],
        "amountSoFar": money_str(p.amount, currency),
    }


@router.get("/customers/{customer_id}/current-usage")
def get_current_usage(customer_id: str, who: Caller = Depends(caller)) -> Response:
    """Per ACTIVE schedule, each usage price's current period so far: value, lines, tier reached, amount
    (before discounts, minimums and tax)."""
    with unit_of_work() as s:
        customer = owned(s, Customer, who.account_id, customer_id)
        if customer is None:
            raise not_found("customer")
        found = current_usage(s, customer)
        body = {
            "customerId": str(customer.id),
            "schedules": [
                {
                    "billingScheduleId": str(u.schedule_id),
                    "currency": u.currency,
                    "today": day(u.today),
                    "prices": [_price_json(p, u.currency) for p in u.prices],
                }
                for u in found
            ],
        }
    return JSONResponse(body)
