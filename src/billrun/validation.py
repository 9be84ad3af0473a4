"""Request validation that reports every bad field at once, keyed by JSON path (SPEC §3.3, §3.5).

v = Fields(body)
name = v.string("name", max_len=255)
amount = v.decimal("amount", minimum=Decimal(0), maximum=Decimal(1))
v.raise_if_errors()          # 400 validationError listing each field
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class FieldError:
    """One invalid field: ``key`` is its JSON path (``phases[0].discounts[1].amount``) or "" (SPEC §3.5)."""

    code: str
    message: str
    key: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "key": self.key}


class ValidationFailed(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.key}: {e.message}" for e in errors))
        self.errors = errors


MISSING: Any = object()
#: Every stored decimal fits NUMERIC comfortably and bills in bounded time (README "Security"): at most 20
#: integer digits and 20 decimal places, whatever the field's own range.
_DECIMAL = re.compile(r"^[+-]?\d{1,20}(\.\d{1,20})?$")
MAX_DECIMAL_ADJUSTED_EXPONENT = 19
#: Integers are stored in PostgreSQL ``integer`` columns unless a field says otherwise.
MAX_INTEGER = 2**31 - 1
#: Timestamps and dates billrun accepts: wide enough for any real schedule or event, and far from the ends of
#: Python's and PostgreSQL's calendars, where arithmetic on them would overflow.
EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(9998, 12, 31)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$")


def parse_timestamp(raw: str) -> dt.datetime | None:
    """RFC 3339 with ``Z`` or an offset, converted to UTC; None when invalid or naive (SPEC §2.0)."""
    if not _TIMESTAMP.match(raw):
        return None
    text = raw.replace("z", "Z").replace("t", "T")
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None or not EARLIEST <= parsed.date() <= LATEST:
        return None
    return parsed.astimezone(dt.UTC)


def parse_date(raw: str) -> dt.date | None:
    """``YYYY-MM-DD``; a datetime is accepted and its UTC date used (the legacy form of seed 003)."""
    if _DATE.match(raw):
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            return None
        return day if EARLIEST <= day <= LATEST else None
    stamp = parse_timestamp(raw)
    return stamp.date() if stamp else None


def contains_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character anywhere (PostgreSQL text and JSONB cannot store one)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class Fields:
    """A JSON object being validated. Children share the parent's error list."""

    def __init__(self, body: Any, prefix: str = "", errors: list[FieldError] | None = None) -> None:
        self.errors: list[FieldError] = [] if errors is None else errors
        self.prefix = prefix
        if isinstance(body, dict):
            self.body: dict[str, Any] = body
        else:
            self.body = {}
            self.error("", "invalidType", f"expected a JSON object, got {_type_name(body)}")

    # -- plumbing -----------------------------------------------------------------------------------------------

    def path(self, key: str) -> str:
        if not key:
            return self.prefix
        if key.startswith("["):
            return f"{self.prefix}{key}"
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str, code: str, message: str) -> None:
        self.errors.append(FieldError(code, message, self.path(key)))

    def has(self, key: str) -> bool:
        return key in self.body and self.body[key] is not None

    def raw(self, key: str, default: Any = None) -> Any:
        return self.body.get(key, default)

    def child(self, key: str, required: bool = True) -> Fields | None:
        value = self.body.get(key)
        if value is None:
            if required:
                self.error(key, "required", f"{self.path(key)} is required")
            return None
        if not isinstance(value, dict):
            self.error(key, "invalidType", f"{self.path(key)} must be an object")
            return None
        return Fields(value, self.path(key), self.errors)

    def items(
        self, key: str, required: bool = True, min_items: int = 0, max_items: int | None = None
    ) -> list[tuple[str, Any]]:
        """(path, element) of an array field."""
        value = self.body.get(key)
        if value is None:
            if required:
                self.error(key, "required", f"{self.path(key)} is required")
            return []
        if not isinstance(value, list):
            self.error(key, "invalidType", f"{self.path(key)} must be an array")
            return []
        if len(value) < min_items:
            self.error(key, "outOfRange", f"{self.path(key)} needs at least {min_items} element(s)")
        if max_items is not None and len(value) > max_items:
            self.error(key, "outOfRange", f"{self.path(key)} takes at most {max_items} elements")
        return [(f"{self.path(key)}[{i}]", element) for i, element in enumerate(value)]

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)

    @property
    def ok(self) -> bool:
        return not self.errors

    # -- typed readers ------------------------------------------------------------------------------------------

    def _present(self, key: str, required: bool) -> Any:
        value = self.body.get(key, MISSING)
        if value is MISSING or value is None:
            if required:
                self.error(key, "required", f"{self.path(key)} is required")
            return MISSING
        return value

    def string(
        self,
        key: str,
        required: bool = True,
        max_len: int = 255,
        default: str | None = None,
        pattern: re.Pattern[str] | None = None,
        pattern_hint: str = "",
    ) -> str | None:
        value = self._present(key, required)
        if value is MISSING:
            return default
        if not isinstance(value, str):
            self.error(key, "invalidType", f"{self.path(key)} must be a string")
            return default
        if required and (not value or value.isspace()):  # what strip() would empty, without making a copy
            self.error(key, "blank", f"{self.path(key)} must not be blank")
            return default
        if "\x00" in value:
            self.error(key, "invalidFormat", f"{self.path(key)} must not contain NUL characters")
            return default
        if len(value) > max_len:
            self.error(key, "tooLong", f"{self.path(key)} must be at most {max_len} characters")
            return default
        if pattern is not None and not pattern.match(value):
            self.error(key, "invalidFormat", f"{self.path(key)} must be {pattern_hint or pattern.pattern}")
            return default
        return value

    def enum(self, key: str, allowed: Iterable[str], required: bool = True, default: str | None = None) -> str | None:
        options = list(allowed)
        value = self._present(key, required)
        if value is MISSING:
            return default
        if not isinstance(value, str) or value not in options:
            self.error(key, "invalidEnum", f"{self.path(key)} must be one of {', '.join(options)}")
            return default
        return value

    def boolean(self, key: str, default: bool = False, required: bool = False) -> bool:
        value = self._present(key, required)
        if value is MISSING:
            return default
        if not isinstance(value, bool):
            self.error(key, "invalidType", f"{self.path(key)} must be a boolean")
            return default
        return value

    def integer(
        self,
        key: str,
        required: bool = True,
        minimum: int | None = None,
        maximum: int | None = None,
        default: int | None = None,
        digit_string: bool = False,
    ) -> int | None:
        value = self._present(key, required)
        if value is MISSING:
            return default
        if maximum is None:
            maximum = MAX_INTEGER
        if digit_string and isinstance(value, str) and value.isdigit() and len(value) <= 12:
            value = int(value)
        # bounded before int(): jsonutil.loads_untrusted keeps exponents small, but this is the last line
        if isinstance(value, Decimal) and abs(value.adjusted()) <= 12 and value == value.to_integral_value():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, "invalidType", f"{self.path(key)} must be an integer")
            return default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.error(key, "outOfRange", f"{self.path(key)} must be {bounds}")
            return default
        return value

    def decimal(
        self,
        key: str,
        required: bool = True,
        minimum: Decimal | None = None,
        maximum: Decimal | None = None,
        exclusive_minimum: bool = False,
    ) -> Decimal | None:
        """A decimal as a string or a JSON number, parsed exactly (SPEC §3.3)."""
        value = self._present(key, required)
        if value is MISSING:
            return None
        parsed = self._to_decimal(value)
        if parsed is None:
            self.error(key, "invalidDecimal", f'{self.path(key)} must be a decimal such as "15.00"')
            return None
        low_fail = minimum is not None and (parsed <= minimum if exclusive_minimum else parsed < minimum)
        if low_fail or (maximum is not None and parsed > maximum):
            low = "above" if exclusive_minimum else "at least"
            bounds = [
                f"{low} {minimum}" if minimum is not None else "",
                f"at most {maximum}" if maximum is not None else "",
            ]
            self.error(key, "outOfRange", f"{self.path(key)} must be {' and '.join(b for b in bounds if b)}")
            return None
        return parsed

    @staticmethod
    def _to_decimal(value: Any) -> Decimal | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | Decimal):
            number = Decimal(value)
            places = number.as_tuple().exponent
            too_fine = not isinstance(places, int) or places < -20  # more than 20 decimal places, or NaN
            if too_fine or (number and number.adjusted() > MAX_DECIMAL_ADJUSTED_EXPONENT):
                return None
            return number
        if isinstance(value, str) and _DECIMAL.match(value):
            try:
                return Decimal(value)
            except InvalidOperation:
                return None
        return None

    def date(self, key: str, required: bool = True) -> dt.date | None:
        value = self._present(key, required)
        if value is MISSING:
            return None
        parsed = parse_date(value) if isinstance(value, str) else None
        if parsed is None:
            self.error(key, "invalidFormat", f"{self.path(key)} must be a date YYYY-MM-DD")
        return parsed

    def timestamp(self, key: str, required: bool = True) -> dt.datetime | None:
        value = self._present(key, required)
        if value is MISSING:
            return None
        parsed = parse_timestamp(value) if isinstance(value, str) else None
        if parsed is None:
            self.error(
                key, "invalidTimestamp", f"{self.path(key)} must be RFC 3339 with an offset, e.g. 2024-01-31T12:00:00Z"
            )
        return parsed

    def string_list(self, key: str, required: bool = False, max_len: int = 255) -> list[str]:
        result = []
        for path, element in self.items(key, required):
            if not isinstance(element, str) or not element:
                self.errors.append(FieldError("invalidType", f"{path} must be a non-empty string", path))
            elif len(element) > max_len:
                self.errors.append(FieldError("tooLong", f"{path} must be at most {max_len} characters", path))
            else:
                result.append(element)
        return result

    def each(
        self,
        key: str,
        parse: Callable[[Fields], T],
        required: bool = True,
        min_items: int = 0,
        max_items: int | None = None,
    ) -> list[T]:
        result = []
        for path, element in self.items(key, required, min_items, max_items):
            result.append(parse(Fields(element, path, self.errors)))
        return result

    def legacy(self, legacy_key: str, canonical_key: str) -> None:
        """Map a legacy field name onto its canonical one; different values for both -> conflictingFields."""
        if legacy_key not in self.body:
            return
        legacy_value = self.body.pop(legacy_key)
        if canonical_key in self.body and self.body[canonical_key] != legacy_value:
            self.error(
                legacy_key, "conflictingFields", f"{self.path(legacy_key)} conflicts with {self.path(canonical_key)}"
            )
            return
        self.body[canonical_key] = legacy_value

    def inert(self, out: dict[str, Any], shapes: Mapping[str, type]) -> None:
        """Copy Sequence fields billrun keeps but does not act on (SPEC §9) into ``out``, each checked only to be
        of its JSON type (``list``, ``dict``, ``str``, ``int``, ``bool``). Size, depth and NUL characters were
        checked when the body was parsed."""
        for key, kind in shapes.items():
            value = self.body.get(key)
            if value is None:
                continue
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                names = {list: "an array", dict: "an object", str: "a string", int: "an integer", bool: "a boolean"}
                self.error(key, "invalidType", f"{self.path(key)} must be {names[kind]}")
            else:
                out[key] = value

    def must_be_empty(self, key: str) -> None:
        value = self.body.get(key)
        if value not in (None, [], {}):
            self.error(key, "unsupported", f"{self.path(key)} is not supported in billrun v1 and must be empty")


#: Sequence's integration services (its ``IntegrationService``); billrun stores the ids and syncs nothing.
INTEGRATION_SERVICES = [
    "Amazon_Redshift",
    "GoCardless",
    "Google_BigQuery",
    "Google_Sheets",
    "HubSpot",
    "NetSuite",
    "QuickBooks_Online",
    "Salesforce",
    "Slack",
    "Snowflake",
    "Stripe",
    "Xero",
    "Avalara",
    "Anrok",
    "Attio",
    "Numeral",
    "Rillet",
    "Sphere",
]


def integration_ids(v: Fields) -> list[dict[str, str]]:
    """``integrationIds``: ``[{service, id}]`` (the legacy name ``externalIds`` is mapped by the caller)."""
    result = []
    for path, element in v.items("integrationIds", required=False):
        i = Fields(element, path, v.errors)
        service, service_id = i.enum("service", INTEGRATION_SERVICES), i.string("id")
        if service and service_id:
            result.append({"service": service, "id": service_id})
    return result


def address(v: Fields, key: str, required: bool) -> dict[str, Any] | None:
    """A postal address: ``line1``, ``line2``, ``town``, ``state`` (required in the US), ``postcode`` and an
    ISO 3166-1 alpha-2 ``country``."""
    a = v.child(key, required=required)
    if a is None:
        return None
    out = {
        "line1": a.string("line1"),
        "line2": a.string("line2", required=False),
        "town": a.string("town"),
        "state": None,
        "postcode": a.string("postcode"),
        "country": a.string("country", max_len=2),
    }
    country = out["country"]
    if country is not None and (len(country) != 2 or not country.isalpha() or not country.isupper()):
        a.error("country", "invalidFormat", "country must be an ISO 3166-1 alpha-2 code such as GB")
    out["state"] = a.string("state", required=country == "US")
    return out
