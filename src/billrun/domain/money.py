"""Currencies, ISO 4217 minor units and the one rounding function (SPEC §4.11).

Amounts are exact (SPEC §4 preamble): quantities and rates are :class:`fractions.Fraction` (proration
factors like 12/31 never lose a digit) and rounded half-up, away from zero on ties, only where SPEC §4.11
says so. The products an invoice rounds on every line (quantity x rate, net x tax rate, net x percentage)
are rounded straight from integer numerator/denominator pairs, never built as a reduced Fraction: the same
exact result (tests/unit/test_exact_arithmetic.py checks it against Fraction arithmetic on random inputs)
without a gcd per operation.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

import iso4217

# SPEC §4.11: the 25 currencies of the seed-era enum, plus the later ones with the digits SPEC requires.
SUPPORTED_CURRENCIES = frozenset(
    [
        "ARS",
        "AUD",
        "BRL",
        "CAD",
        "CHF",
        "CNY",
        "COP",
        "CZK",
        "DKK",
        "EUR",
        "GBP",
        "HKD",
        "ILS",
        "MXN",
        "NOK",
        "NZD",
        "PLN",
        "SEK",
        "SGD",
        "THB",
        "USD",
        "UYU",
        "ZAR",
        "JPY",
        "KRW",
    ]
)
_SPEC_MINOR_UNITS = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "AED": 2, "BGN": 2, "EGP": 2, "INR": 2, "SAR": 2}

Exact = Fraction | Decimal | int


@lru_cache(maxsize=64)
def minor_units(currency: str) -> int:
    """ISO 4217 minor-unit digits of ``currency`` (2 for GBP, 0 for JPY)."""
    if currency in _SPEC_MINOR_UNITS:
        return _SPEC_MINOR_UNITS[currency]
    try:
        units = iso4217.Currency(currency).exponent
    except ValueError as exc:
        raise ValueError(f"unknown currency {currency!r}") from exc
    return 2 if units is None else int(units)


def _ratio(value: Exact) -> tuple[int, int]:
    """``value`` as numerator and positive denominator, not necessarily in lowest terms."""
    if isinstance(value, Fraction):
        return value.numerator, value.denominator
    if isinstance(value, int):
        return value, 1
    return value.as_integer_ratio()


def _round_ratio(numerator: int, denominator: int, places: int) -> Decimal:
    """numerator/denominator (denominator > 0) rounded half-up to ``places`` decimals."""
    numerator *= 10**places
    units = (abs(numerator) * 2 + denominator) // (2 * denominator)  # floor(|q| + 1/2)
    result = Decimal(-units if numerator < 0 else units).scaleb(-places)
    return result if places > 0 else result.quantize(Decimal(1))


def round_half_up(value: Exact, places: int) -> Decimal:
    """Round exactly to ``places`` (>= 0) decimals, ties away from zero (-0.125 -> -0.13 at 2 places).

    Integer arithmetic on the exact ratio: every invoice line rounds several times, and building a reduced
    Fraction for each (a gcd per operation) was a tenth of a billing run's domain time."""
    return _round_ratio(*_ratio(value), places)


def round_money(value: Exact, currency: str) -> Decimal:
    """THE rounding function of SPEC §4.11: half-up to the currency's minor units."""
    return round_half_up(value, minor_units(currency))


def round_money_product(a: Exact, b: Exact, currency: str, divisor: int = 1) -> Decimal:
    """``round_money(a x b / divisor)`` (divisor > 0), the product kept as one integer ratio."""
    a_numerator, a_denominator = _ratio(a)
    b_numerator, b_denominator = _ratio(b)
    return _round_ratio(a_numerator * b_numerator, a_denominator * b_denominator * divisor, minor_units(currency))


def money_str(value: Decimal, currency: str) -> str:
    """Money output: exactly the currency's minor-unit digits ("150.00", "5662" for JPY)."""
    places = minor_units(currency)
    return str(round_money(value, currency).quantize(Decimal(1).scaleb(-places)))


def plain_decimal(value: Exact, max_places: int = 10) -> Decimal:
    """Quantity/rate output (SPEC §3.3): exact when it terminates within ``max_places``, else rounded
    half-up to ``max_places``; trailing zeros stripped; never an exponent."""
    rounded = round_half_up(value, max_places)
    if rounded == 0:
        return Decimal(0)
    normal = rounded.normalize()
    if normal.as_tuple().exponent > 0:  # type: ignore[operator]
        normal = normal.quantize(Decimal(1))
    return normal


def plain_str(value: Exact, max_places: int = 10) -> str:
    return format(plain_decimal(value, max_places), "f")
