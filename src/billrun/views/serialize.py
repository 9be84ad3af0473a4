"""Output formats (SPEC §2.0, §3.3): UTC timestamps with six fractional digits, ISO dates, decimal strings."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from fractions import Fraction
from typing import Any, overload

from billrun.domain.money import money_str, plain_str


@overload
def ts(value: dt.datetime) -> str: ...
@overload
def ts(value: None) -> None: ...
@overload
def ts(value: dt.datetime | None) -> str | None: ...
def ts(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def ident(value: uuid.UUID | None) -> str | None:
    return str(value) if value else None


def integration_ids(stored: list[Any]) -> list[dict[str, Any]]:
    """Stored integration ids as Sequence serves them: billrun syncs nothing, so none is ever pending."""
    return [{**i, "isPending": False} for i in stored if isinstance(i, dict)]


def money(value: Decimal, currency: str) -> str:
    return money_str(value, currency)


def plain(value: Decimal | Fraction | None) -> str | None:
    return None if value is None else plain_str(value)


def number(value: Decimal) -> Any:
    """Discount and minimum amounts are JSON numbers in responses (SPEC §3.3)."""
    return value.normalize() if value == value.to_integral_value() else value


#: Members whose values are the client's own data, echoed as sent: a null inside them is data, not absence.
VERBATIM = frozenset({"eventProperties", "propertyFilters", "customFields", "customProperties", "metadata"})


def present(body: Any) -> Any:
    """The body without null object members: Sequence omits an absent optional field, and no field its schema
    requires is nullable (SPEC §2.0), so a generated client accepts an omitted field where it rejects a null."""
    if isinstance(body, dict):
        return {k: v if k in VERBATIM else present(v) for k, v in body.items() if v is not None}
    if isinstance(body, list):
        return [present(v) for v in body]
    return body
