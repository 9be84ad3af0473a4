"""Amounts, rates, quantities and dates as the seller's locale writes them (Babel, CLDR data).

Money keeps the currency's ISO 4217 minor units of SPEC §4.11 even where CLDR's differ (CLDR gives COP no
decimals; billrun bills COP in cents), so a document never shows an amount other than the one billed.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent

from billrun.domain.money import minor_units, plain_decimal

DEFAULT_LOCALE = "en-GB"
PAPER_SIZES = ("A4", "LETTER")


@lru_cache(maxsize=64)
def _locale(tag: str) -> Locale:
    return Locale.parse(tag.replace("-", "_"))


def known_locale(tag: str) -> bool:
    """Whether CLDR knows ``tag`` (``en-GB``, ``de-DE``, ``fr``)."""
    try:
        _locale(tag)
    except (UnknownLocaleError, ValueError, TypeError):
        return False
    return True


def _exact(value: Decimal | Fraction | int) -> Decimal:
    return value if isinstance(value, Decimal) else plain_decimal(Fraction(value))


class Formats:
    """The formatting of one document: a locale and the invoice's currency."""

    def __init__(self, locale: str, currency: str) -> None:
        self.locale = _locale(locale)
        self.currency = currency
        pattern = copy.copy(self.locale.currency_formats["standard"])
        digits = minor_units(currency)
        pattern.frac_prec = (digits, digits)
        self._money = pattern

    def money(self, value: Decimal) -> str:
        """An amount already rounded to the currency's minor units, with its symbol."""
        return str(self._money.apply(value, self.locale, currency=self.currency, currency_digits=False))

    def number(self, value: Decimal | Fraction | int) -> str:
        """A quantity or unit rate with every digit it has (a rate of 0.00125 is not 0.00)."""
        return str(format_decimal(_exact(value), locale=self.locale, decimal_quantization=False))

    def percent(self, value: Decimal | Fraction) -> str:
        """A rate in [0, 1] as a percentage: 0.2 -> 20%, 0.075 -> 7.5%."""
        return str(format_percent(_exact(value), locale=self.locale, decimal_quantization=False))

    def rate(self, value: Decimal | Fraction, display: str) -> str:
        return self.percent(value) if display == "PERCENTAGE" else self.number(value)

    def date(self, value: dt.date | None) -> str:
        return "" if value is None else str(format_date(value, format="medium", locale=self.locale))

    def month(self, value: dt.date) -> str:
        return str(format_date(value, format="MMMM y", locale=self.locale))
