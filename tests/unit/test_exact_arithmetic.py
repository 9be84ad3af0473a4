"""The exact-arithmetic oracle (SPEC §4 preamble): amounts equal exact rational arithmetic, then §4.11
rounding, whatever representation computes them. billrun rounds the products an invoice takes on every line
straight from integer numerator/denominator pairs (:func:`billrun.domain.money.round_money_product`); here
``fractions.Fraction`` arithmetic is the oracle, on random inputs, for the rounding functions and for whole
invoices (proration, tax rates, chained percentage discounts)."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from billrun.domain.inputs import Discount, DiscountType, Phase, TaxStatus
from billrun.domain.money import minor_units, round_half_up, round_money_product
from tests.unit.builders import d, fixed, invoice, schedule


def oracle_round(value: Fraction, places: int) -> Decimal:
    """SPEC §4.11 by the definition: |q| x 10^places + 1/2, floored, the sign put back."""
    units = math.floor(abs(value) * 10**places + Fraction(1, 2))
    return Decimal(units if value >= 0 else -units).scaleb(-places).quantize(Decimal(1).scaleb(-places))


decimals = st.decimals(min_value=Decimal("-1000000"), max_value=Decimal("1000000"), places=6)
fractions = st.fractions(min_value=-(10**6), max_value=10**6, max_denominator=10**4)
exact_values = st.one_of(st.integers(-(10**9), 10**9), decimals, fractions)
currencies = st.sampled_from(["GBP", "JPY", "USD", "KRW", "CHF"])


@given(a=exact_values, b=exact_values, divisor=st.sampled_from([1, 3, 100, 365]), currency=currencies)
@settings(max_examples=2000)
def test_a_rounded_product_equals_fraction_arithmetic(
    a: int | Decimal | Fraction, b: int | Decimal | Fraction, divisor: int, currency: str
) -> None:
    expected = oracle_round(Fraction(a) * Fraction(b) / divisor, minor_units(currency))
    assert round_money_product(a, b, currency, divisor) == expected


@given(value=exact_values, places=st.integers(0, 10))
@settings(max_examples=1000)
def test_rounding_equals_fraction_arithmetic(value: int | Decimal | Fraction, places: int) -> None:
    assert round_half_up(value, places) == oracle_round(Fraction(value), places)


money = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999"), places=4)
tax_rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.5"), places=4)
percentages = st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=3)


@given(
    amounts=st.lists(st.tuples(money, tax_rates), min_size=1, max_size=5),
    discounts=st.lists(percentages, max_size=3),
    start_day=st.integers(1, 28),
    currency=st.sampled_from(["GBP", "JPY", "USD"]),
)
@settings(max_examples=300, deadline=None)
def test_invoices_equal_a_fraction_oracle(
    amounts: list[tuple[Decimal, Decimal]], discounts: list[Decimal], start_day: int, currency: str
) -> None:
    """Each line of a prorated first invoice, recomputed in Fraction arithmetic: net = round(quantity x
    rate), each percentage discount in order takes round(current net x amount / 100), tax = round(net x rate)."""
    prices = [fixed(f"p{i}", str(amount), currency=currency) for i, (amount, _) in enumerate(amounts)]
    start = d(f"2024-01-{start_day:02d}")
    phase = Phase(
        start,
        None,
        tuple(p.id for p in prices),
        tuple(Discount(DiscountType.PERCENTAGE, amount, f"{amount}% off", False) for amount in discounts),
    )
    s = schedule(
        prices,
        start=str(start),
        r=1,
        phases=[phase],
        tax={f"p{i}": str(rate) for i, (_, rate) in enumerate(amounts)},
        currency=currency,
    )
    draft = invoice(s, "2024-02-01", status=TaxStatus.TAXED)
    places = minor_units(currency)
    assert len(draft.lines) == len(prices)
    for line in draft.lines:
        net = oracle_round(Fraction(line.quantity) * Fraction(line.rate), places)
        before = net
        for amount in discounts:
            net -= oracle_round(Fraction(net) * Fraction(amount) / 100, places)
        assert line.price_id is not None
        rate = amounts[int(line.price_id[1:])][1]
        assert line.net_total == net
        assert line.discount_total == before - net
        assert line.total_tax == oracle_round(Fraction(net) * Fraction(rate), places)
        assert line.gross_total == net + line.total_tax
    assert draft.net_total == sum((line.net_total for line in draft.lines), Decimal(0))
