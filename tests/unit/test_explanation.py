"""The explanation's arithmetic reproduces every line exactly, over random schedules with every pricing type
of SPEC §4.6-4.7 (FIXED, ONE_TIME, LINEAR with and without per-event min/max, PACKAGE, VOLUME, GRADUATED in
each usage mode, ON_DEMAND, SEAT_BASED in each strategy, flat and tiered), discounts of both kinds on the line
and as separate lines, minimums with true-ups, tax and roll-up."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billrun.domain.drafting import drafting_dates
from billrun.domain.explain import exact, explain, period_words
from billrun.domain.inputs import Discount, DiscountType, Minimum, Phase, TaxStatus
from billrun.domain.invoice import InvoiceDraft
from billrun.domain.money import money_str, round_money
from billrun.domain.periods import DateRange
from tests.unit.builders import d, data, invoice, metric, price, schedule, seat, usage

KINDS = [
    "fixed",
    "one_time",
    "linear",
    "linear_pct",
    "package",
    "volume",
    "volume_pct",
    "graduated",
    "cumulative",
    "periodic",
    "on_demand",
    "seats_max",
    "seats_increments",
    "seats_all",
    "seats_tiered",
]


def _tiers(fee: bool) -> list[dict[str, Any]]:
    return [
        {"upperBound": "10", "price": "1.25", "fee": "3" if fee else "0"},
        {"upperBound": "40", "price": "0.7"},
        {"upperBound": None, "price": "0.333"},
    ]


def price_body(kind: str, billing_type: str) -> dict[str, Any]:
    """The price of ``kind`` as the API's JSON (without id, name and product)."""
    usage_metric = "amount" if kind in ("linear_pct", "volume_pct") else "calls"
    structures: dict[str, dict[str, Any]] = {
        "fixed": {"pricingType": "FIXED", "price": "99.99"},
        "one_time": {"pricingType": "ONE_TIME", "price": "250"},
        "linear": {"pricingType": "LINEAR", "pricePerUnit": "0.137", "usageMetricId": usage_metric},
        "linear_pct": {
            "pricingType": "LINEAR",
            "pricePerUnit": "0.025",
            "isPricePercentage": True,
            "minPrice": "0.5",
            "maxPrice": "3",
            "usageMetricId": usage_metric,
        },
        "package": {"pricingType": "PACKAGE", "packageSize": "7", "pricePerPackage": "4.5", "usageMetricId": "calls"},
        "volume": {"pricingType": "VOLUME", "usageMetricId": "calls", "tiers": _tiers(True)},
        "volume_pct": {
            "pricingType": "VOLUME",
            "usageMetricId": usage_metric,
            "tiers": [
                {"upperBound": None, "price": "0.02", "isPricePercentage": True, "minPrice": "1", "maxPrice": "9"}
            ],
        },
        "graduated": {"pricingType": "GRADUATED", "usageMetricId": "calls", "tiers": _tiers(True)},
        "cumulative": {
            "pricingType": "GRADUATED",
            "usageMetricId": "calls",
            "usageCalculationMode": "CUMULATIVE",
            "tiers": _tiers(True),
        },
        "periodic": {
            "pricingType": "GRADUATED",
            "usageMetricId": "calls",
            "usageCalculationMode": "PERIODIC",
            "tiers": _tiers(False),
        },
        "on_demand": {"pricingType": "PACKAGE", "packageSize": "3", "pricePerPackage": "2", "usageMetricId": "calls"},
    }
    if kind.startswith("seats"):
        strategy = {"seats_max": "USE_MAXIMUM", "seats_all": "PRORATE_ALL_CHANGES"}.get(kind, "PRORATE_INCREMENTS")
        structure: dict[str, Any] = {
            "pricingType": "SEAT_BASED",
            "seatMetricId": "editor",
            "pricePerSeat": "17.5",
            "prorationStrategy": strategy,
            "contractedMinimumSeats": 2,
        }
        if kind == "seats_tiered":
            structure["tiers"] = [{"upperBound": "3", "price": "20", "fee": "5"}, {"upperBound": None, "price": "11"}]
        return {"structure": structure, "billingFrequency": "MONTHLY", "billingType": billing_type}
    in_arrears = "IN_ARREARS" if structures[kind]["pricingType"] not in ("FIXED", "ONE_TIME") else billing_type
    return {
        "structure": structures[kind],
        "billingFrequency": "ON_DEMAND" if kind == "on_demand" else "MONTHLY",
        "billingType": in_arrears,
        "usageCalculationPeriod": {"frequency": "MONTHLY", "interval": 2} if kind == "periodic" else None,
    }


def _price(kind: str, billing_type: str) -> Any:
    body = price_body(kind, billing_type)
    return price(
        kind,
        body["structure"],
        billing_type=body["billingType"],
        frequency=body["billingFrequency"],
        usage_calculation_period=body.get("usageCalculationPeriod"),
    )


def check_line(line: dict[str, Any], currency: str) -> None:
    """The numbers of one explained line add up to it exactly."""
    quantity, rate = Fraction(line["quantity"]), Fraction(line["rate"])
    amount = Fraction(line["exactAmount"])
    assert amount == quantity * rate
    assert sum((Fraction(s["amount"]) for s in line["steps"]), Fraction(0)) == amount
    for step in line["steps"]:
        assert Fraction(step["amount"]) == Fraction(step["quantity"]) * Fraction(step["rate"])
    rounded = round_money(amount, currency)
    assert line["rounding"]["to"] == money_str(rounded, currency)
    on_line = sum((Decimal(t["share"]) for t in line["discounts"] if t["onThisLine"]), Decimal(0))
    for taken in line["discounts"]:
        if taken["type"] == "PERCENTAGE":
            assert Decimal(taken["share"]) == round_money(
                Fraction(Decimal(taken["base"])) * Fraction(Decimal(taken["amount"])) / 100, currency
            )
    net = Decimal(line["netTotal"])
    assert net == rounded - on_line
    tax = line["tax"]
    assert Decimal(tax["amount"]) == round_money(Fraction(net) * Fraction(tax["rate"]), currency)
    assert Decimal(line["grossTotal"]) == net + Decimal(tax["amount"])
    if "tier" in line and "from" in line["tier"]:  # graduated: the units between the bounds are the quantity
        if quantity:
            assert Fraction(line["tier"]["to"]) - Fraction(line["tier"]["from"]) == quantity
    elif "tier" in line:  # volume: every unit, in the tier that holds the total
        units, lower = Fraction(line["tier"]["units"]), Fraction(line["tier"]["lower"])
        upper = line["tier"].get("upper")  # absent for the last, unbounded tier
        assert units == quantity
        assert (units > lower or line["tier"]["tier"] == 1) and (upper is None or units <= Fraction(upper))
    if "packages" in line:
        assert math.ceil(Fraction(line["packages"]["units"]) / Fraction(line["packages"]["packageSize"])) == quantity
    if line["kind"] == "MINIMUM_TRUE_UP":
        assert "minimum" in " ".join(line["reasons"])
    if line.get("proration") and line["kind"] == "CHARGE" and not line["discounts"]:
        assert Fraction(line["proration"]["factor"]) == Fraction(line["proration"]["days"], line["proration"]["of"])


def check_invoice(draft: InvoiceDraft, explained: list[dict[str, Any]]) -> None:
    assert [e["index"] for e in explained] == [line.index for line in draft.lines]
    for line, e in zip(draft.lines, explained, strict=True):
        check_line(e, draft.currency)
        assert Decimal(e["netTotal"]) == line.net_total
        assert Decimal(e["tax"]["amount"]) == line.total_tax
        assert Decimal(e["grossTotal"]) == line.gross_total
    separate: dict[tuple[str, str | None], Decimal] = {}
    for e in explained:
        for taken in e["discounts"]:
            if not taken["onThisLine"]:
                key = (taken["id"], e["tax"].get("taxRateId"))
                separate[key] = separate.get(key, Decimal(0)) + Decimal(taken["share"])
    for line in draft.lines:
        if line.kind == "DISCOUNT":  # a separate discount line is the shares the lines it discounts gave up
            key = (line.derivation["discount"]["id"], line.tax_rate_id)
            assert -line.net_total == separate.pop(key)
    assert all(v == 0 for v in separate.values())
    assert sum((Decimal(e["netTotal"]) for e in explained), Decimal(0)) == draft.net_total


@st.composite
def billing_cases(draw: st.DrawFn) -> tuple[Any, ...]:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5, unique=True))
    billing_type = draw(st.sampled_from(["IN_ARREARS", "IN_ADVANCE"]))
    prices = [_price(k, billing_type) for k in kinds]
    start = d("2024-01-01") + dt.timedelta(days=draw(st.integers(0, 40)))
    r = draw(st.sampled_from([1, 15, 28]))
    ids = tuple(p.id for p in prices)
    discounts = []
    for n in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(list(DiscountType)))
        amount = Decimal(draw(st.sampled_from(["10", "12.5", "33"]))) if kind == DiscountType.PERCENTAGE else None
        discounts.append(
            Discount(
                kind,
                amount or Decimal(draw(st.sampled_from(["5", "40", "1000"]))),
                f"discount {n}",
                draw(st.booleans()),
                tuple(draw(st.lists(st.sampled_from(ids), max_size=2, unique=True))),
                f"disc-{n}",
            )
        )
    minimums = ()
    if draw(st.booleans()):
        minimums = (Minimum(Decimal(draw(st.sampled_from(["150", "600"]))), (), "min-0"),)
    phase = Phase(start, None, ids, discounts=tuple(discounts), minimums=minimums)
    tax = {pid: draw(st.sampled_from(["0", "0.2", "0.075"])) for pid in ids}
    sched = schedule(prices, start=start.isoformat(), r=r, phases=[phase], tax=tax, roll_up=draw(st.booleans()))
    days = draw(st.lists(st.integers(0, 120), min_size=1, max_size=40))
    events = [
        usage(
            "calls",
            f"{start + dt.timedelta(days=day)}T{hour:02d}:00:00Z",
            count=1,
        )
        for day, hour in zip(
            days, draw(st.lists(st.integers(0, 23), min_size=len(days), max_size=len(days))), strict=True
        )
    ]
    amounts = draw(st.lists(st.sampled_from(["12.5", "100", "0", "-3", "470.25", "oops"]), max_size=12))
    events += [usage("amount", f"{start + dt.timedelta(days=3 * i)}T08:00:00Z", value=v) for i, v in enumerate(amounts)]
    seats = [
        seat("editor", f"{start + dt.timedelta(days=day)}T{hour:02d}:30:00Z", total)
        for day, hour, total in draw(
            st.lists(st.tuples(st.integers(-5, 120), st.integers(0, 23), st.integers(0, 9)), max_size=6)
        )
    ]
    source = data([metric("calls"), metric("amount", "SUM", "value")], events, seats)
    on_demand = {"on_demand": frozenset(start + dt.timedelta(days=day) for day in days)} if "on_demand" in kinds else {}
    return sched, source, on_demand


@given(case=billing_cases(), status=st.sampled_from(list(TaxStatus)))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_every_explained_line_adds_up_to_the_line(case: tuple[Any, ...], status: TaxStatus) -> None:
    sched, source, on_demand = case
    seen = 0
    for drafting in drafting_dates(sched, sched.start + dt.timedelta(days=130), on_demand)[:6]:
        draft = invoice(sched, drafting.isoformat(), source, status, on_demand)
        explained = explain(sched, draft, source)
        check_invoice(draft, explained)
        seen += len(explained)
    assert seen > 0


def test_every_pricing_type_is_explained_in_words() -> None:
    """One invoice holding a line of every kind: the words carry the numbers a person checks."""
    prices = [_price(k, "IN_ARREARS") for k in KINDS if k not in ("on_demand", "periodic")]
    ids = tuple(p.id for p in prices)
    phase = Phase(
        d("2024-01-01"),
        None,
        ids,
        discounts=(Discount(DiscountType.PERCENTAGE, Decimal(10), "10% off", False, ("fixed",), "ten"),),
        minimums=(Minimum(Decimal(5000), ("fixed",), "min"),),
    )
    sched = schedule(prices, phases=[phase], tax={pid: "0.2" for pid in ids})
    events = [usage("calls", f"2024-01-{1 + i % 28:02d}T10:00:00Z") for i in range(55)]
    events += [usage("amount", "2024-01-05T10:00:00Z", value=v) for v in ("25", "100", "500")]
    seats = [seat("editor", "2023-12-20T00:00:00Z", 3), seat("editor", "2024-01-10T12:00:00Z", 8)]
    source = data([metric("calls"), metric("amount", "SUM", "value")], events, seats)
    draft = invoice(sched, "2024-02-01", source)
    explained = explain(sched, draft, source)
    check_invoice(draft, explained)
    by_title = {e["title"]: e for e in explained}
    graduated = by_title["graduated — Tier 2"]
    assert graduated["tier"]["from"] == "10" and graduated["tier"]["to"] == "40"
    assert graduated["reasons"] == ["units 10 to 40 of 55 fall in tier 2"]
    assert graduated["steps"][0]["text"] == "30 units x 0.7 = 21"
    assert by_title["package"]["reasons"] == ["ceil(55 units / 7 per package) = 8 packages"]
    assert by_title["volume — Tier 3"]["reasons"] == ["all 55 units at tier 3 (more than 40 units)"]
    assert by_title["linear_pct"]["reasons"][1] == "fees: 0.63, 2.50, 3.00 (sum 6.13)"
    fixed = by_title["fixed"]
    assert fixed["discounts"][0]["text"] == "10% of 99.99 = 9.999, rounded 10.00"
    assert fixed["tax"]["text"] == "20% of 89.99 = 17.998, rounded 18.00"
    true_up = next(e for e in explained if e["kind"] == "MINIMUM_TRUE_UP")
    assert true_up["reasons"][0] == "minimum 5,000 x 31/31 = 5,000"
    assert true_up["proration"]["text"] == "31/31 days of January 2024"
    seats_line = by_title["seats_increments"]
    assert seats_line["seats"]["dailyMaxima"] == [
        {"from": "2024-01-01", "to": "2024-01-09", "seats": 3},
        {"from": "2024-01-10", "to": "2024-01-31", "seats": 8},
    ]
    assert graduated["usage"]["eventCount"] == 55


def test_exact_numbers_and_periods_in_words() -> None:
    assert [exact(Fraction(x)) for x in ("1300/31", "5/4", "250", "-1/8", "0")] == [
        "1300/31",
        "1.25",
        "250",
        "-0.125",
        "0",
    ]
    assert period_words(13, 30, DateRange(d("2024-04-01"), d("2024-04-30"))) == "13/30 days of April 2024"
    assert period_words(5, 31, DateRange(d("2024-04-15"), d("2024-05-14"))) == (
        "5/31 days of the period 2024-04-15 to 2024-05-14"
    )
