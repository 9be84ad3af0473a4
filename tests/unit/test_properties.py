"""Property tests of the domain core (hypothesis)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billrun.domain.drafting import drafting_dates, due_items, next_drafting_date
from billrun.domain.inputs import Phase, RecurrencePreference, TaxStatus
from billrun.domain.money import minor_units, round_half_up, round_money
from billrun.domain.periods import ONE_DAY, DateRange, proration_factor
from billrun.domain.pricing import graduated_lines
from tests.unit.builders import (
    CUSTOMER,
    data,
    fixed,
    invoice,
    metric,
    price,
    schedule,
    seat,
    usage,
)

dates = st.dates(min_value=dt.date(2023, 1, 1), max_value=dt.date(2029, 12, 31))
amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=2)
frequencies = st.sampled_from(["MONTHLY", "QUARTERLY", "HALF_YEARLY", "YEARLY"])


@given(start=dates, r=st.integers(1, 31), frequency=frequencies, months=st.integers(1, 30))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_periods_tile_the_schedule_and_full_periods_prorate_to_one(
    start: dt.date, r: int, frequency: str, months: int
) -> None:
    end = start + dt.timedelta(days=months * 31)
    s = schedule([fixed("f", "100", frequency=frequency)], start=start.isoformat(), end=end.isoformat(), r=r)
    items = sorted(due_items(s, end), key=lambda i: i.service.start)
    assert items[0].service.start == start
    assert items[-1].service.end == end
    for before, after in itertools.pairwise(items):
        assert before.service.end + ONE_DAY == after.service.start  # no gap, no overlap
    for item in items:
        assert item.full.covers(item.service)
        if item.service == item.full:
            assert proration_factor(item.service, item.full) == 1
        else:
            assert item is items[0] or item is items[-1]  # only the stub and the tail are partial
        assert item.drafting_date == min(item.full.end, end) + ONE_DAY
    assert drafting_dates(s, end + ONE_DAY) == sorted({i.drafting_date for i in items})


@given(amount=st.fractions(min_value=-(10**6), max_value=10**6, max_denominator=10**6), places=st.integers(0, 4))
def test_rounding_is_idempotent_and_half_up(amount: Fraction, places: int) -> None:
    once = round_half_up(amount, places)
    assert round_half_up(once, places) == once
    assert abs(Fraction(once) - amount) <= Fraction(1, 2 * 10**places)


@given(
    amount=st.decimals(min_value=-(10**9), max_value=10**9, places=6, allow_nan=False, allow_infinity=False),
    places=st.integers(0, 4),
)
def test_rounding_matches_decimal_half_up(amount: Decimal, places: int) -> None:
    # ROUND_HALF_UP of the decimal module rounds ties away from zero: the same rule, another implementation
    expected = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    assert round_half_up(amount, places) == expected
    assert round_half_up(Fraction(amount), places) == expected
    assert round_half_up(-amount, places) == -expected


@given(value=amounts, currency=st.sampled_from(["GBP", "JPY", "USD", "KRW"]))
def test_money_rounding_uses_minor_units(value: Decimal, currency: str) -> None:
    rounded = round_money(value, currency)
    assert -rounded.as_tuple().exponent <= minor_units(currency)  # type: ignore[operator]


tiers_strategy = (
    st.lists(st.integers(1, 500), min_size=1, max_size=4, unique=True)
    .map(sorted)
    .flatmap(
        lambda bounds: st.tuples(
            st.just(bounds),
            st.lists(
                st.decimals(min_value=0, max_value=5, places=2), min_size=len(bounds) + 1, max_size=len(bounds) + 1
            ),
            st.lists(
                st.decimals(min_value=0, max_value=50, places=0), min_size=len(bounds) + 1, max_size=len(bounds) + 1
            ),
        )
    )
)


def _tiers(spec: tuple[list[int], list[Decimal], list[Decimal]]) -> list[dict[str, object]]:
    bounds, prices, fees = spec
    uppers: list[object] = [str(b) for b in bounds] + [None]
    return [{"upperBound": u, "price": str(p), "fee": str(f)} for u, p, f in zip(uppers, prices, fees, strict=True)]


@given(spec=tiers_strategy, monthly=st.lists(st.integers(0, 800), min_size=1, max_size=6))
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
def test_cumulative_graduated_sums_to_g_of_total(
    spec: tuple[list[int], list[Decimal], list[Decimal]], monthly: list[int]
) -> None:
    tiers = _tiers(spec)
    m = metric("u", "SUM", "n")
    p = price(
        "g", {"pricingType": "GRADUATED", "usageMetricId": "u", "usageCalculationMode": "CUMULATIVE", "tiers": tiers}
    )
    events = [usage("u", f"2024-{i + 1:02d}-10T00:00:00Z", n=v) for i, v in enumerate(monthly)]
    s = schedule([p])
    src = data([m], events)
    exact_total = Fraction(0)
    for i in range(len(monthly)):
        draft = invoice(s, f"2024-{i + 2:02d}-01", src)
        exact_total += sum((ln.quantity * ln.rate for ln in draft.lines), Fraction(0))
    whole = graduated_lines("g", p.tiers, Fraction(0), Fraction(sum(monthly)), first_period=True)
    assert exact_total == sum((ln.quantity * ln.rate for ln in whole), Fraction(0))


@given(
    unit_price=st.decimals(min_value=0, max_value=10, places=3),
    fee=st.decimals(min_value=0, max_value=99, places=2),
    total=st.integers(0, 5000),
)
@settings(max_examples=60)
def test_volume_and_graduated_agree_with_one_tier(unit_price: Decimal, fee: Decimal, total: int) -> None:
    m = metric("u", "SUM", "n")
    tiers = [{"upperBound": None, "price": str(unit_price), "fee": str(fee)}]
    volume = price("v", {"pricingType": "VOLUME", "usageMetricId": "u", "tiers": tiers})
    graduated = price(
        "g",
        {"pricingType": "GRADUATED", "usageMetricId": "u", "usageCalculationMode": "BILLING_PERIOD", "tiers": tiers},
    )
    src = data([m], [usage("u", "2024-01-10T00:00:00Z", n=total)])
    assert (
        invoice(schedule([volume]), "2024-02-01", src).net_total
        == invoice(schedule([graduated]), "2024-02-01", src).net_total
    )


seat_changes = st.lists(st.tuples(st.integers(0, 29), st.integers(0, 23), st.integers(0, 40)), max_size=8)


@given(opening=st.integers(0, 40), changes=seat_changes, minimum=st.integers(0, 20))
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_prorate_increments_never_exceeds_use_maximum(
    opening: int, changes: list[tuple[int, int, int]], minimum: int
) -> None:
    events = [seat("editor", "2024-05-20T00:00:00Z", opening)] + [
        seat("editor", f"2024-06-{day + 1:02d}T{hour:02d}:00:00Z", total) for day, hour, total in changes
    ]
    src = data(seat_events=events)
    nets = {}
    for strategy in ("USE_MAXIMUM", "PRORATE_INCREMENTS"):
        p = price(
            "s",
            {
                "pricingType": "SEAT_BASED",
                "seatMetricId": "editor",
                "pricePerSeat": "20",
                "prorationStrategy": strategy,
                "contractedMinimumSeats": minimum,
            },
        )
        nets[strategy] = invoice(schedule([p], start="2024-06-01"), "2024-07-01", src).net_total
    assert nets["PRORATE_INCREMENTS"] <= nets["USE_MAXIMUM"]


@given(
    prices=st.lists(st.tuples(amounts, st.sampled_from(["0", "0.2", "0.07", "0.15"])), min_size=1, max_size=6),
    start_day=st.integers(1, 28),
    status=st.sampled_from(list(TaxStatus)),
)
@settings(max_examples=100)
def test_totals_are_sums_of_lines(prices: list[tuple[Decimal, str]], start_day: int, status: TaxStatus) -> None:
    specs = [fixed(f"p{i}", str(amount)) for i, (amount, _) in enumerate(prices)]
    s = schedule(
        specs, start=f"2024-01-{start_day:02d}", r=1, tax={f"p{i}": rate for i, (_, rate) in enumerate(prices)}
    )
    draft = invoice(s, "2024-02-01", status=status)
    assert draft.net_total == sum(ln.net_total for ln in draft.lines)
    assert draft.total_tax == sum(ln.total_tax for ln in draft.lines)
    assert draft.gross_total == draft.net_total + draft.total_tax
    assert all(ln.gross_total == ln.net_total + ln.total_tax for ln in draft.lines)
    assert sum(g.net_total for g in draft.groups) == draft.net_total


@given(
    start=dates,
    r=st.integers(1, 31),
    plan=st.lists(st.tuples(frequencies, st.sampled_from(["IN_ARREARS", "IN_ADVANCE"])), min_size=1, max_size=3),
    phase_days=st.lists(st.integers(1, 500), max_size=2),
    reset=st.booleans(),
    end_days=st.one_of(st.none(), st.integers(1, 900)),
    after_days=st.integers(-30, 900),
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_next_drafting_date_is_the_first_drafting_date_after(
    start: dt.date,
    r: int,
    plan: list[tuple[str, str]],
    phase_days: list[int],
    reset: bool,
    end_days: int | None,
    after_days: int,
) -> None:
    # the short look-ahead must agree with the brute force: every item of every period within 400 days
    prices = [fixed(f"p{i}", "10", frequency=f, billing_type=b) for i, (f, b) in enumerate(plan)]
    end = start + dt.timedelta(days=end_days) if end_days else None
    starts = sorted({start, *(start + dt.timedelta(days=n) for n in phase_days)})
    phases = tuple(
        Phase(
            s_,
            (starts[k + 1] - ONE_DAY) if k + 1 < len(starts) else end,
            tuple(p.id for j, p in enumerate(prices) if (j + k) % 2 == 0 or len(prices) == 1),
            recurrence=RecurrencePreference.RESET if reset and k else RecurrencePreference.CONTINUE_FROM_PREVIOUS_PHASE,
        )
        for k, s_ in enumerate(starts)
        if end is None or s_ <= end
    )
    s = schedule(prices, start=start.isoformat(), end=end.isoformat() if end else None, r=r, phases=phases)
    after = start + dt.timedelta(days=after_days)
    brute = [i.drafting_date for i in due_items(s, after + dt.timedelta(days=400)) if i.drafting_date > after]
    assert next_drafting_date(s, after) == (min(brute) if brute else None)


def test_window_of_usage_is_half_open_utc_days() -> None:
    m = metric("u")
    src = data(
        [m],
        [
            usage("u", "2024-01-31T23:59:59.999999Z"),
            usage("u", "2024-02-01T00:00:00Z"),
            usage("u", "2024-01-01T00:30:00+01:00"),
        ],
    )  # 2023-12-31T23:30Z: before January
    assert src.usage("u", DateRange(dt.date(2024, 1, 1), dt.date(2024, 1, 31))).value == 1
    assert CUSTOMER in src.aliases
