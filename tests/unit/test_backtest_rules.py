"""A backtest's re-rating on random schedules of every pricing type: a replacement identical to the price
leaves every invoice as it was, and a known change moves it by exactly that much."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billrun.billing.backtests import replaced
from billrun.domain.drafting import drafting_dates
from billrun.domain.inputs import TaxStatus
from tests.unit.builders import fixed, invoice, rows, schedule, totals
from tests.unit.test_explanation import billing_cases, price_body


def _identical(sched: Any) -> dict[str, dict[str, Any]]:
    bodies = {}
    for pid, p in sched.prices.items():
        body = price_body(pid, p.billing_type.value)
        bodies[pid] = {"name": p.name, "currency": p.currency, **body}
    return bodies


@given(case=billing_cases(), status=st.sampled_from(list(TaxStatus)))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_an_identical_replacement_rates_every_invoice_the_same(case: tuple[Any, ...], status: TaxStatus) -> None:
    sched, source, on_demand = case
    same = replaced(sched, _identical(sched))
    assert same.prices == sched.prices
    for drafting in drafting_dates(sched, sched.start + dt.timedelta(days=130), on_demand)[:6]:
        before = invoice(sched, drafting.isoformat(), source, status, on_demand)
        after = invoice(same, drafting.isoformat(), source, status, on_demand)
        assert (rows(after), totals(after)) == (rows(before), totals(before))


def test_ten_percent_more_on_a_fixed_price_is_ten_percent_more() -> None:
    sched = schedule([fixed("f", "100")], start="2024-01-17")
    body = {"name": "f", "currency": "GBP", "structure": {"pricingType": "FIXED", "price": "110"},
            "billingFrequency": "MONTHLY", "billingType": "IN_ARREARS"}  # fmt: skip
    dearer = replaced(sched, {"f": body, "unknown": body})  # a price the schedule does not hold is ignored
    for day, old, new in (("2024-02-01", "48.39", "53.23"), ("2024-03-01", "100.00", "110.00")):
        assert (totals(invoice(sched, day))[0], totals(invoice(dearer, day))[0]) == (old, new)
