"""Reference usage semantics (SPEC §5.1-§5.5) and the remaining pricing paths."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billrun.domain.drafting import accumulation_start, first_drafting_date, next_drafting_date
from billrun.domain.inputs import (
    AggregationType,
    Minimum,
    Phase,
    RecurrencePreference,
    metric_from_json,
)
from billrun.domain.money import minor_units, money_str, plain_str
from billrun.domain.periods import DateRange, is_monthly_billing_day
from billrun.domain.usage import filter_text, numeric_value, passes_filters
from tests.unit.builders import d, data, fixed, invoice, metric, price, rows, schedule, seat, totals, usage

JAN = DateRange(dt.date(2024, 1, 1), dt.date(2024, 1, 31))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (500, Decimal(500)),
        (-3, Decimal(-3)),
        (Decimal("0.25"), Decimal("0.25")),
        (Decimal("1E+3"), Decimal(1000)),
        ("500", Decimal(500)),
        ("0.25", Decimal("0.25")),
        ("-7", Decimal(-7)),
        ("+2", Decimal(2)),
        (1.5, Decimal("1.5")),
    ],
)
def test_valid_iso_31_0_numbers(raw: object, expected: Decimal) -> None:
    assert numeric_value(raw) == expected


@pytest.mark.parametrize("raw", ["1,000", "1,5", "1 000", "$5", ".5", "5.", "1e3", "", True, False, None, {}, [], "x"])
def test_invalid_numbers(raw: object) -> None:
    assert numeric_value(raw) is None


def test_filters_and_or_negation_and_case_folding() -> None:
    m = metric(
        "m", "COUNT", filters={"region": ("eu", "uk"), "tier": ("free",)}, properties_to_negate=frozenset({"tier"})
    )
    assert passes_filters({"region": "eu", "tier": "paid"}, m)
    assert passes_filters({"region": "uk"}, m)  # a missing negated property passes
    assert not passes_filters({"region": "us", "tier": "paid"}, m)
    assert not passes_filters({"region": "eu", "tier": "free"}, m)
    assert not passes_filters({"tier": "paid"}, m)  # a missing positive property fails
    assert not passes_filters({"region": "EU"}, m)
    folded = metric("m", "COUNT", filters={"region": ("straße",)}, case_sensitive=False)
    assert passes_filters({"region": "STRASSE"}, folded)
    numeric = metric("m", "COUNT", filters={"n": ("1", "true")})
    assert passes_filters({"n": 1}, numeric) and passes_filters({"n": True}, numeric)
    assert not passes_filters({"n": {"a": 1}}, numeric)
    assert filter_text([1]) == "[1]" and filter_text(None) is None


def test_unique_sum_max_and_invalid_counting() -> None:
    events = [
        usage("e", "2024-01-02T00:00:00Z", v=v)
        for v in ["a", "a", 1, Decimal("1.0"), "1", None, "", {"x": 1}, True, "2.5", "bad", -4]
    ]
    src = data(
        [
            metric("u", "UNIQUE", "v", event_type="e"),
            metric("s", "SUM", "v", event_type="e"),
            metric("x", "MAX", "v", event_type="e"),
            metric("c", "COUNT", event_type="e"),
        ],
        events,
    )
    # distinct: "a", the number 1 (= 1.0), the string "1", true, "2.5", "bad", -4; skipped: null, "", objects
    assert src.usage("u", JAN).value == 7
    assert src.usage("s", JAN).value == Decimal("1") + Decimal("1.0") + Decimal("1") + Decimal("2.5") - 4
    assert src.usage("s", JAN).invalid_property_values == 7
    assert src.usage("x", JAN).value == Decimal("2.5")
    assert src.usage("c", JAN).value == 12
    assert data([metric("x", "MAX", "v", event_type="e")]).usage("x", JAN).value == 0


def test_metric_from_json() -> None:
    spec = metric_from_json(
        "m1",
        {
            "eventType": "call",
            "aggregationType": "SUM",
            "aggregationProperty": "n",
            "propertyFilters": {"a": ["x", 1]},
            "caseSensitive": False,
            "propertiesToNegate": ["a"],
            "name": "Calls",
        },
    )
    assert spec.aggregation_type == AggregationType.SUM
    assert spec.property_filters == {"a": ("x", "1")} and spec.properties_to_negate == {"a"}
    assert not spec.case_sensitive and spec.name == "Calls"


def test_next_and_first_drafting_dates() -> None:
    s = schedule([fixed("f", "1", frequency="YEARLY")], start="2024-03-10", end="2025-06-30", r=1)
    assert first_drafting_date(s) == d("2024-04-01")
    assert next_drafting_date(s, d("2024-04-01")) == d("2025-04-01")
    assert next_drafting_date(s, d("2025-04-01")) == d("2025-07-01")
    assert next_drafting_date(s, d("2025-07-01")) is None


def test_accumulation_start_runs_across_continuing_phases_and_breaks_at_reset() -> None:
    phases = [
        Phase(d("2024-01-01"), d("2024-01-31"), ("g",)),
        Phase(d("2024-02-01"), d("2024-02-29"), ("g", "f")),
        Phase(d("2024-03-01"), d("2024-03-31"), ("g",), recurrence=RecurrencePreference.RESET),
        Phase(d("2024-04-01"), None, ("f",)),
    ]
    s = schedule([fixed("g", "1"), fixed("f", "1")], phases=phases)
    assert accumulation_start(s, 1, "g") == d("2024-01-01")
    assert accumulation_start(s, 2, "g") == d("2024-03-01")
    assert accumulation_start(s, 3, "f") == d("2024-04-01")


def test_minimum_without_restriction_covers_recurring_prices_only() -> None:
    once = price("once", {"pricingType": "ONE_TIME", "price": "50"}, billing_type="IN_ADVANCE")
    phase = Phase(d("2024-01-01"), None, ("once", "f"), minimums=(Minimum(Decimal(100)),))
    s = schedule([once, fixed("f", "30")], phases=[phase])
    jan = invoice(s, "2024-02-01")
    assert rows(jan) == [("f", "1", "30", "30.00", "0.00"), ("True-up charge", "1", "70", "70.00", "0.00")]


def test_on_demand_package_and_graduated_accumulate_over_the_phase() -> None:
    m = metric("ev")
    pkg = price(
        "pkg",
        {"pricingType": "PACKAGE", "usageMetricId": "ev", "packageSize": "10", "pricePerPackage": "5"},
        frequency="ON_DEMAND",
    )
    grad = price(
        "grad",
        {
            "pricingType": "GRADUATED",
            "usageMetricId": "ev",
            "usageCalculationMode": "BILLING_PERIOD",
            "tiers": [{"upperBound": "5", "price": "1", "fee": "3"}, {"upperBound": None, "price": "2"}],
        },
        frequency="ON_DEMAND",
    )
    s = schedule([pkg, grad], start="2024-03-01")
    events = [usage("ev", "2024-03-02T00:00:00Z") for _ in range(4)] + [
        usage("ev", "2024-03-04T00:00:00Z") for _ in range(4)
    ]
    days = {"pkg": frozenset({d("2024-03-02"), d("2024-03-04")}), "grad": frozenset({d("2024-03-02"), d("2024-03-04")})}
    src = data([m], events)
    first = invoice(s, "2024-03-03", src, on_demand_days=days)
    assert rows(first) == [
        ("pkg", "1", "5", "5.00", "0.00"),
        ("grad — Tier 1", "4", "1", "4.00", "0.00"),
        ("grad — Tier 1 flat fee", "1", "3", "3.00", "0.00"),
    ]
    second = invoice(s, "2024-03-05", src, on_demand_days=days)
    assert rows(second) == [("grad — Tier 1", "1", "1", "1.00", "0.00"), ("grad — Tier 2", "3", "2", "6.00", "0.00")]


def test_seat_tiers_are_graduated_per_seat_with_fees() -> None:
    p = price(
        "s",
        {
            "pricingType": "SEAT_BASED",
            "seatMetricId": "editor",
            "pricePerSeat": "0",
            "prorationStrategy": "USE_MAXIMUM",
            "contractedMinimumSeats": 0,
            "tiers": [{"upperBound": "15", "price": "12", "fee": "5"}, {"upperBound": None, "price": "15", "fee": "7"}],
        },
    )
    src = data(seat_events=[seat("editor", "2024-01-01T00:00:00Z", 20)])
    draft = invoice(schedule([p]), "2024-02-01", src)
    assert rows(draft) == [
        ("s — Tier 1 flat fee", "1", "5", "5.00", "0.00"),
        ("s — Tier 1", "15", "12", "180.00", "0.00"),
        ("s — Tier 2", "5", "15", "75.00", "0.00"),
        ("s — Tier 2 flat fee", "1", "7", "7.00", "0.00"),
    ]


def test_prorate_all_changes_with_seat_tiers_splits_seat_days() -> None:
    p = price(
        "s",
        {
            "pricingType": "SEAT_BASED",
            "seatMetricId": "editor",
            "pricePerSeat": "0",
            "prorationStrategy": "PRORATE_ALL_CHANGES",
            "contractedMinimumSeats": 1,
            "tiers": [{"upperBound": "2", "price": "30"}, {"upperBound": None, "price": "60"}],
        },
    )
    src = data(seat_events=[seat("editor", "2024-06-11T00:00:00Z", 3)])
    draft = invoice(schedule([p], start="2024-06-01"), "2024-07-01", src)
    # baseline 1 seat x 30; 20 days at 3 seats: seat 2 in tier 1 (20 seat-days x 1), seat 3 in tier 2 (x 2)
    assert rows(draft) == [
        ("s — Tier 1", "1", "30", "30.00", "0.00"),
        ("s — Tier 1", "20", "1", "20.00", "0.00"),
        ("s — Tier 2", "20", "2", "40.00", "0.00"),
    ]


def test_negative_usage_is_clamped_with_a_warning() -> None:
    m = metric("n", "SUM", "v")
    p = price("l", {"pricingType": "LINEAR", "usageMetricId": "n", "pricePerUnit": "1"})
    draft = invoice(schedule([p]), "2024-02-01", data([m], [usage("n", "2024-01-05T00:00:00Z", v=-5)]))
    assert totals(draft)[0] == "0.00" and "negativeUsageClamped" in draft.warnings


def test_money_helpers() -> None:
    assert minor_units("EUR") == 2 and minor_units("ISK") == 0 and minor_units("INR") == 2
    with pytest.raises(ValueError):
        minor_units("XYZ")
    assert money_str(Decimal("5662"), "JPY") == "5662" and money_str(Decimal("1"), "GBP") == "1.00"
    assert plain_str(Decimal("0E-10")) == "0" and plain_str(Decimal("12.3400")) == "12.34"
    assert is_monthly_billing_day(d("2024-02-29"), 31) and not is_monthly_billing_day(d("2024-02-28"), 31)
    with pytest.raises(ValueError):
        DateRange(d("2024-02-02"), d("2024-02-01"))


def test_seat_events_at_the_same_instant_resolve_to_the_later_received() -> None:
    from billrun.domain.seats import SeatTimeline

    events = [
        seat("editor", "2024-01-10T00:00:00Z", 5),
        seat("editor", "2024-01-10T00:00:00Z", 3),
        seat("editor", "2024-01-12T00:00:00Z", 9, event_id="x"),
        seat("editor", "2024-01-13T00:00:00Z", 1, event_id="x"),
    ]
    timeline = SeatTimeline.build(events, "editor", frozenset({"cust-1"}))
    assert timeline.balance_at(dt.datetime(2024, 1, 11, tzinfo=dt.UTC)) == 3
    assert timeline.balance_at(dt.datetime(2024, 1, 12, 12, tzinfo=dt.UTC)) == 3  # "x" was overridden to 01-13
    # "x" moved to 01-13 00:00 and set 1 there: 3 was never held during 01-13
    assert timeline.day_max(d("2024-01-13")) == 1 and timeline.opening(d("2024-01-14")) == 1
