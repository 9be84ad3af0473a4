"""SPEC §8 examples E1-E32 at the domain level: exact lines and totals, no servers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billrun.domain.drafting import drafting_dates, items_due_on
from billrun.domain.inputs import Discount, DiscountType, Minimum, Phase, RecurrencePreference, TaxStatus
from billrun.domain.invoice import SafetyBoundExceeded
from billrun.domain.money import plain_str
from tests.unit.builders import (
    CUSTOMER,
    d,
    data,
    fixed,
    invoice,
    metric,
    period,
    price,
    rows,
    schedule,
    seat,
    spread,
    totals,
    usage,
)


def seats_price(
    pid: str = "seats", per_seat: str = "15.0", strategy: str = "PRORATE_INCREMENTS", minimum: int = 0, **kw: object
) -> object:
    structure: dict[str, object] = {
        "pricingType": "SEAT_BASED",
        "seatMetricId": "editor",
        "pricePerSeat": per_seat,
        "prorationStrategy": strategy,
        "contractedMinimumSeats": minimum,
    }
    overages = kw.pop("overages", None)
    if overages:
        structure["overagesBillingFrequency"] = overages
    return price(pid, structure, **kw)  # type: ignore[arg-type]


def test_e1_seed_guide_seats_in_arrears_with_vat() -> None:
    p = seats_price(name="Editor seat")
    s = schedule([p], end="2024-12-31", tax={"seats": "0.2"})  # type: ignore[list-item]
    src = data(seat_events=[seat("editor", "2024-01-01T09:00:00Z", 10)])
    assert drafting_dates(s, d("2024-02-01")) == [d("2024-02-01")]
    first = invoice(s, "2024-02-01", src)
    assert rows(first) == [("Editor seat", "10", "15", "150.00", "30.00")]
    assert totals(first) == ("150.00", "30.00", "180.00")
    assert period(first) == ("2024-01-01", "2024-01-31")
    assert first.accounting_date == d("2024-01-31")
    assert first.customer_tax_status == TaxStatus.TAXED
    second = invoice(s, "2024-03-01", src)
    assert totals(second) == ("150.00", "30.00", "180.00")
    assert period(second) == ("2024-02-01", "2024-02-29")


def test_e2_flower_saas_seat_proration() -> None:
    p = seats_price()
    s = schedule([p], start="2024-04-01", tax={"seats": "0.2"})  # type: ignore[list-item]
    src = data(seat_events=[seat("editor", "2024-04-18T10:00:00Z", 27)])
    april = invoice(s, "2024-05-01", src)
    assert rows(april) == [("seats", "27", "6.5", "175.50", "35.10")]
    assert totals(april) == ("175.50", "35.10", "210.60")
    assert totals(invoice(s, "2024-06-01", src)) == ("405.00", "81.00", "486.00")


@pytest.mark.parametrize(
    ("discount", "april", "may"),
    [
        (
            Discount(DiscountType.PERCENTAGE, Decimal(10), "10% off", True),
            [("Platform", "1", "250", "250.00", "0.00"), ("10% off", "1", "-25", "-25.00", "0.00")],
            [("Platform", "1", "500", "500.00", "0.00"), ("10% off", "1", "-50", "-50.00", "0.00")],
        ),
        (
            Discount(DiscountType.NOMINAL, Decimal(100), "£100 off", True),
            [("Platform", "1", "250", "250.00", "0.00"), ("£100 off", "1", "-100", "-100.00", "0.00")],
            [("Platform", "1", "500", "500.00", "0.00"), ("£100 off", "1", "-100", "-100.00", "0.00")],
        ),
        (
            Discount(DiscountType.PERCENTAGE, Decimal(10), "10% off", False),
            [("Platform", "1", "250", "225.00", "0.00")],
            [("Platform", "1", "500", "450.00", "0.00")],
        ),
    ],
)
def test_e3_fixed_proration_and_discounts(discount: Discount, april: list[object], may: list[object]) -> None:
    p = fixed("platform", "500", name="Platform")
    s = schedule([p], start="2024-04-16", phases=[Phase(d("2024-04-16"), None, ("platform",), (discount,))])
    first = invoice(s, "2024-05-01")
    assert period(first) == ("2024-04-16", "2024-04-30")
    assert rows(first) == april
    assert rows(invoice(s, "2024-06-01")) == may
    if not discount.separate_line_item:
        assert first.lines[0].discount_total == Decimal("25.00")
        assert first.lines[0].description == "10% off"


def test_e4_volume_tiers_inclusive_bounds_and_zero_usage() -> None:
    m = metric("units", "SUM", "units")
    p = price(
        "units",
        {
            "pricingType": "VOLUME",
            "usageMetricId": "units",
            "tiers": [
                {"upperBound": "100", "price": "1.00", "fee": "20.00"},
                {"upperBound": None, "price": "0.75", "fee": "50.00"},
            ],
        },
        name="Units",
    )
    s = schedule([p])
    src = data(
        [m], [usage("units", "2024-01-10T00:00:00Z", units=125), usage("units", "2024-02-10T00:00:00Z", units=100)]
    )
    assert rows(invoice(s, "2024-02-01", src)) == [
        ("Units — Tier 2", "125", "0.75", "93.75", "0.00"),
        ("Units — Tier 2 flat fee", "1", "50", "50.00", "0.00"),
    ]
    assert rows(invoice(s, "2024-03-01", src)) == [
        ("Units — Tier 1", "100", "1", "100.00", "0.00"),
        ("Units — Tier 1 flat fee", "1", "20", "20.00", "0.00"),
    ]
    assert rows(invoice(s, "2024-04-01", src)) == [("Units — Tier 1 flat fee", "1", "20", "20.00", "0.00")]


def test_e5_volume_percentage() -> None:
    m = metric("payment", "SUM", "amount")
    p = price(
        "fees",
        {
            "pricingType": "VOLUME",
            "usageMetricId": "payment",
            "tiers": [
                {"upperBound": "10000", "price": "0.001", "fee": "500", "isPricePercentage": True},
                {"upperBound": None, "price": "0.005", "fee": "250", "isPricePercentage": True},
            ],
        },
        name="Payment fees",
    )
    src = data(
        [m],
        [
            usage("payment", "2024-01-05T00:00:00Z", amount=5000),
            usage("payment", "2024-01-06T00:00:00Z", amount="10000"),
        ],
    )
    draft = invoice(schedule([p]), "2024-02-01", src)
    assert rows(draft) == [
        ("Payment fees — Tier 2", "15000", "0.005", "75.00", "0.00"),
        ("Payment fees — Tier 2 flat fee", "1", "250", "250.00", "0.00"),
    ]
    assert draft.lines[0].rate_display == "PERCENTAGE"
    assert totals(draft)[0] == "325.00"


def test_e6_linear_percentage() -> None:
    m = metric("payment", "SUM", "amount")
    p = price(
        "fee", {"pricingType": "LINEAR", "usageMetricId": "payment", "pricePerUnit": "0.005", "isPricePercentage": True}
    )
    draft = invoice(schedule([p]), "2024-02-01", data([m], spread("payment", "2024-01", 50, amount="20")))
    assert rows(draft) == [("fee", "1000", "0.005", "5.00", "0.00")]
    assert draft.lines[0].rate_display == "PERCENTAGE"


@pytest.mark.parametrize("third", ["500", "750"])
def test_e7_per_event_min_max(third: str) -> None:
    m = metric("card", "SUM", "amount")
    volume = price(
        "vol",
        {
            "pricingType": "VOLUME",
            "usageMetricId": "card",
            "tiers": [
                {
                    "upperBound": None,
                    "price": "0.02",
                    "isPricePercentage": True,
                    "minPrice": "1.00",
                    "maxPrice": "10.00",
                }
            ],
        },
        name="Card fee (volume)",
    )
    linear = price(
        "lin",
        {
            "pricingType": "LINEAR",
            "usageMetricId": "card",
            "pricePerUnit": "0.02",
            "isPricePercentage": True,
            "minPrice": "1.00",
            "maxPrice": "10.00",
        },
        name="Card fee (linear)",
    )
    events = [usage("card", f"2024-01-0{i + 1}T00:00:00Z", amount=v) for i, v in enumerate(["25", "100", third])]
    draft = invoice(schedule([volume, linear]), "2024-02-01", data([m], events))
    assert rows(draft) == [
        ("Card fee (volume) — Tier 1", "1", "13", "13.00", "0.00"),
        ("Card fee (linear)", "1", "13", "13.00", "0.00"),
    ]
    assert draft.lines[1].description == f"3 events, {25 + 100 + int(third)} at 2%, min 1.00, max 10.00 per event"


def test_e8_graduated() -> None:
    m = metric("units", "SUM", "units")
    p = price(
        "g",
        {
            "pricingType": "GRADUATED",
            "usageMetricId": "units",
            "usageCalculationMode": "BILLING_PERIOD",
            "tiers": [{"upperBound": "500", "price": "0.10"}, {"upperBound": None, "price": "0.15"}],
        },
    )
    draft = invoice(schedule([p]), "2024-02-01", data([m], [usage("units", "2024-01-20T00:00:00Z", units=827)]))
    assert rows(draft) == [
        ("g — Tier 1", "500", "0.1", "50.00", "0.00"),
        ("g — Tier 2", "327", "0.15", "49.05", "0.00"),
    ]
    assert totals(draft)[0] == "99.05"


def test_e9_graduated_ai_addon_minimum_tier_fee() -> None:
    m = metric("api_call")
    p = price(
        "ai",
        {
            "pricingType": "GRADUATED",
            "usageMetricId": "api_call",
            "usageCalculationMode": "BILLING_PERIOD",
            "tiers": [
                {"upperBound": "1000", "price": "0", "fee": "250"},
                {"upperBound": "2500", "price": "0.45"},
                {"upperBound": None, "price": "0.65"},
            ],
        },
    )
    src = data([m], spread("api_call", "2024-01", 3000) + spread("api_call", "2024-02", 1000))
    s = schedule([p])
    assert rows(invoice(s, "2024-02-01", src)) == [
        ("ai — Tier 1", "1000", "0", "0.00", "0.00"),
        ("ai — Tier 1 flat fee", "1", "250", "250.00", "0.00"),
        ("ai — Tier 2", "1500", "0.45", "675.00", "0.00"),
        ("ai — Tier 3", "500", "0.65", "325.00", "0.00"),
    ]
    assert totals(invoice(s, "2024-02-01", src))[0] == "1250.00"
    assert rows(invoice(s, "2024-03-01", src)) == [
        ("ai — Tier 1", "1000", "0", "0.00", "0.00"),
        ("ai — Tier 1 flat fee", "1", "250", "250.00", "0.00"),
    ]
    assert rows(invoice(s, "2024-04-01", src)) == [("ai — Tier 1 flat fee", "1", "250", "250.00", "0.00")]


def test_e10_package_and_zero_invoice() -> None:
    m = metric("msg")
    p = price(
        "msgs",
        {"pricingType": "PACKAGE", "usageMetricId": "msg", "packageSize": "50", "pricePerPackage": "2.00"},
        name="Messages",
    )
    src = data([m], spread("msg", "2024-01", 101) + spread("msg", "2024-02", 100))
    s = schedule([p])
    jan = invoice(s, "2024-02-01", src)
    assert rows(jan) == [("Messages", "3", "2", "6.00", "0.00")]
    assert jan.lines[0].description == "101 units"
    assert rows(invoice(s, "2024-03-01", src)) == [("Messages", "2", "2", "4.00", "0.00")]
    march = invoice(s, "2024-04-01", src)
    assert rows(march) == [("Messages", "0", "2", "0.00", "0.00")]
    assert not march.is_empty and march.lines[0].description == "0 units"


def test_e11_minimum_true_up() -> None:
    m = metric("api_call")
    p = price(
        "calls",
        {"pricingType": "LINEAR", "usageMetricId": "api_call", "pricePerUnit": "0.10"},
        name="API calls",
        currency="USD",
    )
    phase = Phase(d("2024-01-01"), None, ("calls",), minimums=(Minimum(Decimal(1000), ("calls",)),))
    s = schedule([p], phases=[phase], tax={"calls": "0.2"})
    src = data([m], spread("api_call", "2024-01", 8450) + spread("api_call", "2024-02", 12000))
    jan = invoice(s, "2024-02-01", src)
    assert rows(jan) == [
        ("API calls", "8450", "0.1", "845.00", "169.00"),
        ("True-up charge", "1", "155", "155.00", "31.00"),
    ]
    assert jan.lines[1].kind == "MINIMUM_TRUE_UP" and jan.lines[1].price_id is None
    assert totals(jan) == ("1000.00", "200.00", "1200.00")
    feb = invoice(s, "2024-03-01", src)
    assert rows(feb) == [("API calls", "12000", "0.1", "1200.00", "240.00")]
    assert totals(feb) == ("1200.00", "240.00", "1440.00")


def test_e12_month_end_clamping() -> None:
    s = schedule([fixed("f", "310")], start="2024-01-15", r=31)
    expected = [
        ("2024-01-31", "2024-01-15", "2024-01-30", "160.00"),
        ("2024-02-29", "2024-01-31", "2024-02-28", "310.00"),
        ("2024-03-31", "2024-02-29", "2024-03-30", "310.00"),
        ("2024-04-30", "2024-03-31", "2024-04-29", "310.00"),
        ("2024-05-31", "2024-04-30", "2024-05-30", "310.00"),
    ]
    assert drafting_dates(s, d("2024-05-31")) == [d(e[0]) for e in expected]
    for drafting, start, end, net in expected:
        draft = invoice(s, drafting)
        assert period(draft) == (start, end)
        assert totals(draft)[0] == net
    assert plain_str(invoice(s, "2024-01-31").lines[0].rate) == "160"


def test_e13_quarterly_advance_and_monthly_arrears_share_an_invoice() -> None:
    m = metric("api_call")
    platform = fixed("platform", "300", name="Platform", frequency="QUARTERLY", billing_type="IN_ADVANCE")
    api = price("api", {"pricingType": "LINEAR", "usageMetricId": "api_call", "pricePerUnit": "0.10"}, name="API")
    s = schedule([platform, api])
    src = data(
        [m],
        spread("api_call", "2024-01", 1000) + spread("api_call", "2024-02", 2000) + spread("api_call", "2024-03", 1500),
    )
    assert drafting_dates(s, d("2024-04-01")) == [d("2024-01-01"), d("2024-02-01"), d("2024-03-01"), d("2024-04-01")]
    first = invoice(s, "2024-01-01", src)
    assert period(first) == ("2024-01-01", "2024-03-31") and first.accounting_date == d("2024-01-01")
    assert rows(first) == [("Platform", "1", "300", "300.00", "0.00")]
    assert totals(invoice(s, "2024-02-01", src))[0] == "100.00"
    assert totals(invoice(s, "2024-03-01", src))[0] == "200.00"
    last = invoice(s, "2024-04-01", src)
    assert rows(last) == [("Platform", "1", "300", "300.00", "0.00"), ("API", "1500", "0.1", "150.00", "0.00")]
    assert period(last) == ("2024-03-01", "2024-03-31") and last.accounting_date == d("2024-03-31")
    assert last.lines[0].service_period is not None and str(last.lines[0].service_period) == "2024-04-01..2024-06-30"


def test_e14_jpy_zero_decimals() -> None:
    m = metric("api_call")
    f = fixed("fixed", "10000", currency="JPY")
    calls = price(
        "calls", {"pricingType": "LINEAR", "usageMetricId": "api_call", "pricePerUnit": "0.5"}, currency="JPY"
    )
    s = schedule([f, calls], start="2024-03-16", r=1, tax={"fixed": "0.1", "calls": "0.1"})
    events = [usage("api_call", f"2024-03-{16 + i % 16:02d}T01:00:00Z") for i in range(1001)]
    draft = invoice(s, "2024-04-01", data([m], events))
    assert period(draft) == ("2024-03-16", "2024-03-31")
    assert rows(draft) == [("fixed", "1", "5161.2903225806", "5161", "516"), ("calls", "1001", "0.5", "501", "50")]
    assert totals(draft) == ("5662", "566", "6228")


def test_e15_per_line_half_up_tax() -> None:
    a = schedule([fixed("a", "0.43"), fixed("b", "4.84")], tax={"a": "0.15", "b": "0.15"})
    draft = invoice(a, "2024-02-01")
    assert [ln.total_tax for ln in draft.lines] == [Decimal("0.06"), Decimal("0.73")]
    assert totals(draft) == ("5.27", "0.79", "6.06")
    four = [fixed(f"p{i}", "17.50") for i in range(4)]
    b = schedule(four, tax={p.id: "0.07" for p in four})
    assert totals(invoice(b, "2024-02-01")) == ("70.00", "4.92", "74.92")


@pytest.mark.parametrize("status", [TaxStatus.TAX_EXEMPT, TaxStatus.REVERSE_CHARGED])
def test_e16_e17_untaxed_customers_get_zero_rate(status: TaxStatus) -> None:
    s = schedule([seats_price()], end="2024-12-31", tax={"seats": "0.2"})  # type: ignore[list-item]
    src = data(seat_events=[seat("editor", "2024-01-01T09:00:00Z", 10)])
    draft = invoice(s, "2024-02-01", src, status)
    assert totals(draft) == ("150.00", "0.00", "150.00")
    assert draft.lines[0].tax_rate == 0 and draft.customer_tax_status == status
    assert totals(invoice(s, "2024-02-01", src, TaxStatus.TAXED)) == ("150.00", "30.00", "180.00")


def test_e18_last_wins_void_and_invalid_numbers() -> None:
    units = metric("units", "SUM", "units", event_type="job")
    calls = metric("calls", "COUNT", event_type="job")
    s = schedule(
        [
            price("Units", {"pricingType": "LINEAR", "usageMetricId": "units", "pricePerUnit": "1"}),
            price("Calls", {"pricingType": "LINEAR", "usageMetricId": "calls", "pricePerUnit": "0.10"}),
        ],
        start="2024-03-01",
    )
    events = [
        usage("job", "2024-03-05T00:00:00Z", event_id="a", units=10),
        usage("job", "2024-03-06T00:00:00Z", event_id="a", units=15),
        usage("job", "2024-03-10T00:00:00Z", event_id="b", units=7),
        usage("job", "2024-03-10T00:00:00Z", alias="VOID", event_id="b", units=7),
        usage("job", "2024-03-12T00:00:00Z", event_id="c", units="1,000"),
        usage("job", "2024-03-20T00:00:00Z", units=5),
        usage("job", "2024-04-02T00:00:00Z", event_id="d", units=4),
        usage("job", "2024-02-27T00:00:00Z", event_id="e", units=3),
        usage("job", "2024-03-02T00:00:00Z", event_id="e", units=3),
    ]
    draft = invoice(s, "2024-04-01", data([units, calls], events, aliases=[CUSTOMER, "VOID"]))
    assert rows(draft) == [("Units", "23", "1", "23.00", "0.00"), ("Calls", "4", "0.1", "0.40", "0.00")]
    assert draft.lines[0].derivation["invalidPropertyValues"] == 1
    assert totals(draft)[0] == "23.40"


GRADUATED_TIERS = [{"upperBound": "1000", "price": "0.10"}, {"upperBound": None, "price": "0.05"}]


def test_e19_graduated_cumulative() -> None:
    m = metric("units", "SUM", "units")
    p = price(
        "g",
        {
            "pricingType": "GRADUATED",
            "usageMetricId": "units",
            "usageCalculationMode": "CUMULATIVE",
            "tiers": GRADUATED_TIERS,
        },
    )
    src = data(
        [m], [usage("units", "2024-01-10T00:00:00Z", units=800), usage("units", "2024-02-10T00:00:00Z", units=600)]
    )
    s = schedule([p])
    assert rows(invoice(s, "2024-02-01", src)) == [("g — Tier 1", "800", "0.1", "80.00", "0.00")]
    assert rows(invoice(s, "2024-03-01", src)) == [
        ("g — Tier 1", "200", "0.1", "20.00", "0.00"),
        ("g — Tier 2", "400", "0.05", "20.00", "0.00"),
    ]
    assert rows(invoice(s, "2024-04-01", src)) == [("g — Tier 2", "0", "0.05", "0.00", "0.00")]


def test_e20_graduated_periodic() -> None:
    m = metric("units", "SUM", "units")
    p = price(
        "g",
        {
            "pricingType": "GRADUATED",
            "usageMetricId": "units",
            "usageCalculationMode": "PERIODIC",
            "tiers": GRADUATED_TIERS,
        },
        usage_calculation_period={"frequency": "MONTHLY", "interval": 2},
    )
    src = data(
        [m],
        [
            usage("units", f"2024-0{month}-10T00:00:00Z", units=v)
            for month, v in [(1, 800), (2, 600), (3, 600), (4, 600)]
        ],
    )
    s = schedule([p])
    assert [totals(invoice(s, f"2024-0{m}-01", src))[0] for m in (2, 3, 4, 5)] == ["80.00", "40.00", "60.00", "50.00"]


def test_e21_phase_change_mid_period_continue() -> None:
    a, b = fixed("A", "310"), fixed("B", "620")
    s = schedule([a, b], phases=[Phase(d("2024-01-01"), d("2024-01-15"), ("A",)), Phase(d("2024-01-16"), None, ("B",))])
    assert drafting_dates(s, d("2024-03-01")) == [d("2024-02-01"), d("2024-03-01")]
    jan = invoice(s, "2024-02-01")
    assert period(jan) == ("2024-01-01", "2024-01-31")
    assert rows(jan) == [("A", "1", "150", "150.00", "0.00"), ("B", "1", "320", "320.00", "0.00")]
    assert totals(invoice(s, "2024-03-01"))[0] == "620.00"


@pytest.mark.parametrize("reset", [False, True])
def test_e22_reset_with_yearly_in_advance(reset: bool) -> None:
    y1 = fixed("Y1", "1200", frequency="YEARLY", billing_type="IN_ADVANCE")
    y2 = fixed("Y2", "2400", frequency="YEARLY", billing_type="IN_ADVANCE")
    pref = RecurrencePreference.RESET if reset else RecurrencePreference.CONTINUE_FROM_PREVIOUS_PHASE
    s = schedule(
        [y1, y2],
        start="2025-01-01",
        end="2026-03-31",
        phases=[
            Phase(d("2025-01-01"), d("2025-03-31"), ("Y1",)),
            Phase(d("2025-04-01"), d("2026-03-31"), ("Y2",), recurrence=pref),
        ],
    )
    dates = drafting_dates(s, d("2026-12-31"))
    assert totals(invoice(s, "2025-01-01"))[0] == "295.89"
    if reset:
        assert dates == [d("2025-01-01"), d("2025-04-01")]
        assert totals(invoice(s, "2025-04-01"))[0] == "2400.00"
    else:
        assert dates == [d("2025-01-01"), d("2025-04-01"), d("2026-01-01")]
        assert totals(invoice(s, "2025-04-01"))[0] == "1808.22"
        assert totals(invoice(s, "2026-01-01"))[0] == "591.78"


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("USE_MAXIMUM", [("seats", "8", "20", "160.00", "0.00")]),
        ("PRORATE_INCREMENTS", [("seats", "5", "20", "100.00", "0.00"), ("seats", "3", "14", "42.00", "0.00")]),
        (
            "PRORATE_ALL_CHANGES",
            [("seats", "5", "20", "100.00", "0.00"), ("seats", "33", "0.6666666667", "22.00", "0.00")],
        ),
    ],
)
def test_e23_seat_strategies(strategy: str, expected: list[object]) -> None:
    p = seats_price(per_seat="20", strategy=strategy, minimum=5)
    s = schedule([p], start="2024-06-01")  # type: ignore[list-item]
    src = data(
        seat_events=[
            seat("editor", "2024-05-20T00:00:00Z", 3),
            seat("editor", "2024-06-10T08:00:00Z", 8),
            seat("editor", "2024-06-20T08:00:00Z", 4),
        ]
    )
    draft = invoice(s, "2024-07-01", src)
    assert period(draft) == ("2024-06-01", "2024-06-30")
    assert rows(draft) == expected


def test_e24_seats_in_advance_with_monthly_overages() -> None:
    p = seats_price(per_seat="30", minimum=10, frequency="QUARTERLY", billing_type="IN_ADVANCE", overages="MONTHLY")
    s = schedule([p])  # type: ignore[list-item]
    src = data(seat_events=[seat("editor", "2023-12-20T00:00:00Z", 10), seat("editor", "2024-02-15T09:00:00Z", 13)])
    assert drafting_dates(s, d("2024-04-01")) == [d("2024-01-01"), d("2024-02-01"), d("2024-03-01"), d("2024-04-01")]
    jan = invoice(s, "2024-01-01", src)
    assert (period(jan), rows(jan)) == (("2024-01-01", "2024-03-31"), [("seats", "10", "30", "300.00", "0.00")])
    feb = invoice(s, "2024-02-01", src)
    assert (period(feb), rows(feb)) == (("2024-01-01", "2024-01-31"), [("seats", "0", "30", "0.00", "0.00")])
    mar = invoice(s, "2024-03-01", src)
    assert rows(mar) == [("seats", "3", "15.1648351648", "45.49", "0.00")]
    apr = invoice(s, "2024-04-01", src)
    assert period(apr) == ("2024-03-01", "2024-03-31")
    assert rows(apr) == [("seats", "0", "30", "0.00", "0.00"), ("seats", "13", "30", "390.00", "0.00")]


def test_e25_roll_up_sums_children_before_tiers() -> None:
    m = metric("call", "SUM", "calls")
    p = price(
        "calls",
        {
            "pricingType": "GRADUATED",
            "usageMetricId": "call",
            "usageCalculationMode": "BILLING_PERIOD",
            "tiers": GRADUATED_TIERS,
        },
    )
    events = [
        usage("call", "2024-01-10T00:00:00Z", alias="c1", calls=600),
        usage("call", "2024-01-11T00:00:00Z", alias="c2", calls=700),
    ]
    rolled = invoice(schedule([p], roll_up=True), "2024-02-01", data([m], events, aliases=["parent", "c1", "c2"]))
    assert totals(rolled)[0] == "115.00"
    alone = invoice(schedule([p]), "2024-02-01", data([m], events, aliases=["parent"]))
    assert rows(alone) == [("calls — Tier 1", "0", "0.1", "0.00", "0.00")]


def test_e26_late_seat_event_changes_the_recalculation() -> None:
    s = schedule([seats_price()], end="2024-12-31", tax={"seats": "0.2"})  # type: ignore[list-item]
    events = [seat("editor", "2024-01-01T09:00:00Z", 10), seat("editor", "2024-01-20T10:00:00Z", 12)]
    draft = invoice(s, "2024-02-01", data(seat_events=events))
    assert rows(draft) == [("seats", "10", "15", "150.00", "30.00"), ("seats", "2", "5.8064516129", "11.61", "2.32")]
    assert totals(draft) == ("161.61", "32.32", "193.93")
    assert totals(invoice(s, "2024-03-01", data(seat_events=events))) == ("180.00", "36.00", "216.00")


def test_e28_backdated_schedule_has_every_past_drafting_date() -> None:
    s = schedule([fixed("f", "100")])
    assert drafting_dates(s, d("2024-04-10")) == [d("2024-02-01"), d("2024-03-01"), d("2024-04-01")]
    assert [totals(invoice(s, x))[0] for x in ("2024-02-01", "2024-03-01", "2024-04-01")] == ["100.00"] * 3


def test_e30_on_demand_days_with_events_only() -> None:
    m = metric("ev")
    p = price("od", {"pricingType": "LINEAR", "usageMetricId": "ev", "pricePerUnit": "0.50"}, frequency="ON_DEMAND")
    s = schedule([p], start="2024-03-01")
    events = [usage("ev", "2024-03-05T10:00:00Z") for _ in range(3)] + [
        usage("ev", "2024-03-07T10:00:00Z") for _ in range(2)
    ]
    days = {"od": frozenset({d("2024-03-05"), d("2024-03-07")})}
    src = data([m], events)
    assert drafting_dates(s, d("2024-03-31"), days) == [d("2024-03-06"), d("2024-03-08")]
    first = invoice(s, "2024-03-06", src, on_demand_days=days)
    assert (period(first), totals(first)[0]) == (("2024-03-05", "2024-03-05"), "1.50")
    assert totals(invoice(s, "2024-03-08", src, on_demand_days=days))[0] == "1.00"
    assert invoice(s, "2024-03-07", src, on_demand_days=days).is_empty


def test_e31_one_time_and_in_advance_stub() -> None:
    onboarding = price(
        "onb", {"pricingType": "ONE_TIME", "price": "1000"}, name="Onboarding", billing_type="IN_ADVANCE"
    )
    platform = fixed("plat", "100", name="Platform", billing_type="IN_ADVANCE")
    s = schedule([onboarding, platform], start="2024-01-15", r=1)
    first = invoice(s, "2024-01-15")
    assert period(first) == ("2024-01-15", "2024-01-31")
    assert rows(first) == [
        ("Onboarding", "1", "1000", "1000.00", "0.00"),
        ("Platform", "1", "54.8387096774", "54.84", "0.00"),
    ]
    assert totals(first)[0] == "1054.84"
    assert rows(invoice(s, "2024-02-01")) == [("Platform", "1", "100", "100.00", "0.00")]


def test_e32_invalid_numeric_is_counted_but_not_summed() -> None:
    total = metric("amount", "SUM", "amount", event_type="x")
    count = metric("count", "COUNT", event_type="x")
    events = [usage("x", "2024-01-02T00:00:00Z", amount="1,000"), usage("x", "2024-01-03T00:00:00Z", amount="5")]
    src = data([total, count], events)
    window = items_due_on(schedule([fixed("f", "1")]), d("2024-02-01"))[0].service
    assert src.usage("amount", window).value == 5
    assert src.usage("amount", window).invalid_property_values == 1
    assert src.usage("count", window).value == 2


def test_missing_tax_mapping_is_zero_with_a_warning() -> None:
    draft = invoice(schedule([fixed("f", "100")]), "2024-02-01")
    assert draft.total_tax == 0 and "missingTaxRate" in draft.warnings


def test_safety_bound_duplicate_lines_fails_permanently() -> None:
    p = fixed("f", "100")
    s = schedule([p], phases=[Phase(d("2024-01-01"), None, ("f", "f"))])
    with pytest.raises(SafetyBoundExceeded):
        invoice(s, "2024-02-01")


def test_nominal_discount_is_capped_and_allocated_pro_rata() -> None:
    a, b = fixed("a", "30"), fixed("b", "10")
    nominal = Discount(DiscountType.NOMINAL, Decimal(100), "big", False)
    s = schedule([a, b], phases=[Phase(d("2024-01-01"), None, ("a", "b"), (nominal,))])
    draft = invoice(s, "2024-02-01")
    assert [ln.discount_total for ln in draft.lines] == [Decimal("30.00"), Decimal("10.00")]
    assert draft.net_total == 0
    third = Discount(DiscountType.NOMINAL, Decimal(10), "third", True)
    c = schedule(
        [fixed("a", "10"), fixed("b", "10"), fixed("c", "10")],
        phases=[Phase(d("2024-01-01"), None, ("a", "b", "c"), (third,))],
    )
    draft = invoice(c, "2024-02-01")
    assert rows(draft)[-1] == ("third", "1", "-10", "-10.00", "0.00")
    assert draft.net_total == Decimal("20.00")


def test_tail_period_prorated_against_full_period() -> None:
    s = schedule([fixed("f", "310")], end="2024-03-15")
    assert drafting_dates(s, d("2024-12-31")) == [d("2024-02-01"), d("2024-03-01"), d("2024-03-16")]
    assert totals(invoice(s, "2024-03-16"))[0] == "150.00"


def test_quarterly_stub_against_full_quarter() -> None:
    s = schedule([fixed("q", "920", frequency="QUARTERLY")], start="2024-01-15")
    first = invoice(s, "2024-02-01")
    assert period(first) == ("2024-01-15", "2024-01-31")
    assert totals(first)[0] == "170.00"  # 920 x 17/92
    assert dt.date(2024, 5, 1) in drafting_dates(s, d("2024-06-01"))


def test_e27_traveller_inputs_give_two_invoices_in_order() -> None:
    """E27 runs E1's inputs under a time traveller moved to 2024-03-01T06:00Z: drafting dates 02-01 and 03-01,
    in that order, with E1's invoices (the clock itself is the billing layer's, tested end to end)."""
    s = schedule([seats_price()], end="2024-12-31", tax={"seats": "0.2"})  # type: ignore[list-item]
    src = data(seat_events=[seat("editor", "2024-01-01T09:00:00Z", 10)])
    assert drafting_dates(s, d("2024-03-01")) == [d("2024-02-01"), d("2024-03-01")]
    assert [totals(invoice(s, x, src)) for x in ("2024-02-01", "2024-03-01")] == [("150.00", "30.00", "180.00")] * 2
    assert drafting_dates(s, d("2024-02-15")) == [d("2024-02-01")]


def test_e29_the_run_for_february_is_one_invoice_of_100() -> None:
    """E29's schedule (E28's inputs from 2024-01-01): the run for D 2024-02-01 is the January invoice of 100.00;
    re-computing it gives the same invoice (the exactly-once machinery is tested with real workers)."""
    s = schedule([fixed("f", "100")])
    first, again = invoice(s, "2024-02-01"), invoice(s, "2024-02-01")
    assert first == again
    assert period(first) == ("2024-01-01", "2024-01-31") and totals(first) == ("100.00", "0.00", "100.00")
