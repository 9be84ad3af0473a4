"""Output formats (SPEC §2.0, §3.3): UTC timestamps with six fractional digits, ISO dates, decimal strings."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from fractions import Fraction
from typing import Any

from billrun.domain.money import money_str, plain_str


def ts(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def ident(value: uuid.UUID | None) -> str | None:
    return str(value) if value else None


def money(value: Decimal, currency: str) -> str:
    return money_str(value, currency)


def plain(value: Decimal | Fraction | None) -> str | None:
    return None if value is None else plain_str(value)


def number(value: Decimal) -> Any:
    """Discount and minimum amounts are JSON numbers in responses (SPEC §3.3)."""
    return value.normalize() if value == value.to_integral_value() else value
