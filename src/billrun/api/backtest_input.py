"""A backtest request validated (``POST /backtests`` and ``billrun backtest``): every bad field named."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from billrun.api.price_input import PriceInput
from billrun.store.common import owned
from billrun.store.models import Customer, Price
from billrun.validation import FieldError, Fields

#: the longest span a backtest re-rates: three years of drafting dates
MAX_DAYS = 3 * 366 + 1


@dataclass(frozen=True)
class BacktestRequest:
    first: dt.date
    last: dt.date
    replacements: list[dict[str, Any]]  # [{"priceId", "with": canonical price}]
    customers: list[uuid.UUID] | None


def _replacement(s: Session, account_id: uuid.UUID, v: Fields, path: str, raw: Any) -> dict[str, Any] | None:
    item = Fields(raw, path, v.errors)
    price = owned(s, Price, account_id, item.string("priceId"))
    if price is None and item.has("priceId"):
        item.error("priceId", "unknownReference", "priceId does not name a price of this account")
    replacement = item.child("with")
    if price is None or replacement is None:
        return None
    parsed = PriceInput(s, account_id, replacement.body)
    v.errors.extend(FieldError(e.code, e.message, f"{path}.with.{e.key}".rstrip(".")) for e in parsed.v.errors)
    if parsed.currency is not None and parsed.currency != price.currency:
        replacement.error("currency", "immutable", f"a replacement keeps the price's currency ({price.currency})")
    for key in ("usageMetricId", "seatMetricId"):
        if parsed.structure.get(key) != price.structure.get(key):
            replacement.error(f"structure.{key}", "immutable", f"a replacement keeps the price's {key}")
    canonical = {
        "name": parsed.name,
        "currency": parsed.currency,
        "structure": parsed.structure,
        "billingFrequency": parsed.billing_frequency,
        "billingType": parsed.billing_type,
        "usageCalculationPeriod": parsed.usage_calculation_period,
    }
    return {"priceId": str(price.id), "with": canonical}


def parse_backtest(s: Session, account_id: uuid.UUID, body: Any) -> BacktestRequest:
    """``{"from", "to", "replacePrices": [{"priceId", "with": <price body>}], "customerIds"?}``, or
    ValidationFailed naming each bad field. A replacement keeps its price's currency and metric."""
    v = Fields(body)
    first, last = v.date("from"), v.date("to")
    if first and last and not 0 <= (last - first).days <= MAX_DAYS:
        v.error("to", "outOfRange", f"to must be on or after from, at most {MAX_DAYS} days later")
    replacements = [
        _replacement(s, account_id, v, p, r) for p, r in v.items("replacePrices", min_items=1, max_items=100)
    ]
    customers = None
    if v.has("customerIds"):
        customers = []
        for path, ref in v.items("customerIds", max_items=1000):
            customer = owned(s, Customer, account_id, ref if isinstance(ref, str) else None)
            if customer is None:
                v.errors.append(FieldError("unknownReference", "not a customer of this account", path))
            else:
                customers.append(customer.id)
    v.raise_if_errors()
    assert first is not None and last is not None
    return BacktestRequest(first, last, [r for r in replacements if r is not None], customers)
