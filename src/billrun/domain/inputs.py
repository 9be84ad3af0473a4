"""The typed input snapshot of one billing calculation (SPEC §4.12).

The billing use cases fill these from the database; tests build them directly. ``price_from_json`` and
``metric_from_json`` read the canonical 2024-07-30 JSON shapes, so the API, the loader and the audit
snapshot (SPEC §6.7) share one parser.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any

from billrun.domain.periods import FREQUENCY_MONTHS, Frequency


class BillingType(StrEnum):
    IN_ARREARS = "IN_ARREARS"
    IN_ADVANCE = "IN_ADVANCE"


class PricingType(StrEnum):
    FIXED = "FIXED"
    ONE_TIME = "ONE_TIME"
    LINEAR = "LINEAR"
    PACKAGE = "PACKAGE"
    VOLUME = "VOLUME"
    GRADUATED = "GRADUATED"
    SEAT_BASED = "SEAT_BASED"


class UsageCalculationMode(StrEnum):
    BILLING_PERIOD = "BILLING_PERIOD"
    CUMULATIVE = "CUMULATIVE"
    PERIODIC = "PERIODIC"


class ProrationStrategy(StrEnum):
    USE_MAXIMUM = "USE_MAXIMUM"
    PRORATE_INCREMENTS = "PRORATE_INCREMENTS"
    PRORATE_ALL_CHANGES = "PRORATE_ALL_CHANGES"


class TaxStatus(StrEnum):
    TAXED = "TAXED"
    TAX_EXEMPT = "TAX_EXEMPT"
    REVERSE_CHARGED = "REVERSE_CHARGED"


class RecurrencePreference(StrEnum):
    CONTINUE_FROM_PREVIOUS_PHASE = "CONTINUE_FROM_PREVIOUS_PHASE"
    RESET = "RESET"


class AggregationType(StrEnum):
    COUNT = "COUNT"
    SUM = "SUM"
    UNIQUE = "UNIQUE"
    MAX = "MAX"


@dataclass(frozen=True)
class Tier:
    """Tier i covers ``(ub_{i-1}, ub_i]``; ``upper_bound`` None is the last, unbounded tier (SPEC §4.6.5)."""

    upper_bound: Decimal | None
    price: Decimal
    fee: Decimal = Decimal(0)
    is_percentage: bool = False
    min_price: Decimal | None = None
    max_price: Decimal | None = None


@dataclass(frozen=True)
class PriceSpec:
    id: str
    name: str
    currency: str
    pricing_type: PricingType
    billing_frequency: Frequency
    billing_type: BillingType
    product_id: str = ""
    # FIXED / ONE_TIME
    price: Decimal = Decimal(0)
    # LINEAR / PACKAGE / VOLUME / GRADUATED
    usage_metric_id: str | None = None
    price_per_unit: Decimal = Decimal(0)
    is_percentage: bool = False
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    package_size: Decimal = Decimal(1)
    price_per_package: Decimal = Decimal(0)
    tiers: tuple[Tier, ...] = ()
    usage_calculation_mode: UsageCalculationMode = UsageCalculationMode.BILLING_PERIOD
    usage_calculation_months: int | None = None
    # SEAT_BASED
    seat_type: str | None = None
    price_per_seat: Decimal = Decimal(0)
    proration_strategy: ProrationStrategy = ProrationStrategy.PRORATE_INCREMENTS
    contracted_minimum_seats: int = 0
    overages_billing_frequency: Frequency | None = None

    @property
    def is_once_only(self) -> bool:
        """ONE_TIME structure or frequency: charged once, never prorated (SPEC §4.4, §4.6.1)."""
        return self.pricing_type == PricingType.ONE_TIME or self.billing_frequency == Frequency.ONE_TIME

    @property
    def is_on_demand(self) -> bool:
        return self.billing_frequency == Frequency.ON_DEMAND

    @property
    def period_months(self) -> int:
        return FREQUENCY_MONTHS.get(self.billing_frequency, 1)

    @property
    def has_per_event_fees(self) -> bool:
        """Percentage prices with a per-event min/max (SPEC §4.6.3)."""
        if self.pricing_type == PricingType.LINEAR:
            return self.is_percentage and (self.min_price is not None or self.max_price is not None)
        if self.pricing_type == PricingType.VOLUME:
            return any(t.is_percentage and (t.min_price is not None or t.max_price is not None) for t in self.tiers)
        return False


@dataclass(frozen=True)
class MetricSpec:
    id: str
    event_type: str
    aggregation_type: AggregationType
    aggregation_property: str | None = None
    property_filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    case_sensitive: bool = True
    properties_to_negate: frozenset[str] = frozenset()
    name: str = ""


class DiscountType(StrEnum):
    PERCENTAGE = "PERCENTAGE"
    NOMINAL = "NOMINAL"


@dataclass(frozen=True)
class Discount:
    type: DiscountType
    amount: Decimal
    message: str
    separate_line_item: bool
    restrict_to_prices: tuple[str, ...] = ()
    id: str = ""


@dataclass(frozen=True)
class Minimum:
    amount: Decimal
    restrict_to_prices: tuple[str, ...] = ()
    id: str = ""


@dataclass(frozen=True)
class Phase:
    start: dt.date
    end: dt.date | None
    price_ids: tuple[str, ...]
    discounts: tuple[Discount, ...] = ()
    minimums: tuple[Minimum, ...] = ()
    recurrence: RecurrencePreference = RecurrencePreference.CONTINUE_FROM_PREVIOUS_PHASE
    id: str = ""


@dataclass(frozen=True)
class TaxRateRef:
    """The current published version of a mapped tax rate (SPEC §2.10, §4.10)."""

    tax_rate_id: str
    amount: Decimal
    version_id: str = ""
    version: int = 0


@dataclass(frozen=True)
class ScheduleSpec:
    id: str
    start: dt.date
    end: dt.date | None
    recurrence_day: int
    phases: tuple[Phase, ...]
    prices: Mapping[str, PriceSpec]
    currency: str
    tax_rates: Mapping[str, TaxRateRef] = field(default_factory=dict)
    roll_up: bool = False


# --- canonical JSON -> specs ---------------------------------------------------------------------------------


#: The billing safety bound on stored amounts (the API refuses more at input): a price of 1E+999999999 stored
#: by an older version would otherwise keep a worker busy for minutes turning it into an exact fraction.
MAX_AMOUNT_ADJUSTED_EXPONENT = 30


def unbillable_amount(price: PriceSpec) -> str | None:
    """The first amount of ``price`` that is too large or too fine to bill in bounded time, as text (None when
    all are fine). Checked before rating: building the spec itself stays cheap, only exact arithmetic is not."""
    amounts = [getattr(price, f.name) for f in fields(price)]
    for tier in price.tiers:
        amounts.extend(getattr(tier, f.name) for f in fields(tier))
    for amount in amounts:
        if isinstance(amount, Decimal) and (
            not amount.is_finite() or (amount and abs(amount.adjusted()) > MAX_AMOUNT_ADJUSTED_EXPONENT)
        ):
            return str(amount)[:40]
    return None


def _dec(value: Any, default: Decimal | None = None) -> Decimal | None:
    if value is None:
        return default
    return Decimal(str(value))


def _req_dec(value: Any, default: Decimal = Decimal(0)) -> Decimal:
    result = _dec(value, default)
    assert result is not None
    return result


def phases_from_json(raw: Sequence[Mapping[str, Any]]) -> tuple[Phase, ...]:
    """Phases in their JSON form (a calculation snapshot's, and what billing loads, SPEC §6.7): ``startDate``,
    ``endDate``, ``priceIds``, ``recurrencePreference``, ``discounts`` (``id``, ``type``, ``amount``,
    ``message``, ``separateLineItem``, ``restrictToPrices``) and ``minimums`` (``id``, ``amount``,
    ``restrictToPrices``), amounts as decimal text."""
    return tuple(
        Phase(
            start=dt.date.fromisoformat(ph["startDate"]),
            end=dt.date.fromisoformat(ph["endDate"]) if ph["endDate"] else None,
            price_ids=tuple(ph["priceIds"]),
            discounts=tuple(
                Discount(
                    DiscountType(d["type"]),
                    Decimal(d["amount"]),
                    d["message"],
                    d["separateLineItem"],
                    tuple(d["restrictToPrices"]),
                    d["id"],
                )
                for d in ph["discounts"]
            ),
            minimums=tuple(
                Minimum(Decimal(m["amount"]), tuple(m["restrictToPrices"]), m["id"]) for m in ph["minimums"]
            ),
            recurrence=RecurrencePreference(ph["recurrencePreference"]),
            id=ph["id"],
        )
        for ph in raw
    )


def tiers_from_json(raw: list[Mapping[str, Any]] | None) -> tuple[Tier, ...]:
    return tuple(
        Tier(
            upper_bound=_dec(t.get("upperBound")),
            price=_req_dec(t.get("price")),
            fee=_req_dec(t.get("fee")),
            is_percentage=bool(t.get("isPricePercentage", False)),
            min_price=_dec(t.get("minPrice")),
            max_price=_dec(t.get("maxPrice")),
        )
        for t in (raw or [])
    )


def price_from_json(
    price_id: str,
    name: str,
    currency: str,
    structure: Mapping[str, Any],
    billing_frequency: str,
    billing_type: str,
    *,
    product_id: str = "",
    usage_calculation_period: Mapping[str, Any] | None = None,
    seat_types: Mapping[str, str] | None = None,
) -> PriceSpec:
    """Build a :class:`PriceSpec` from canonical price JSON. ``seat_types`` maps seat metric ids to their
    ``seatType`` (seat events reference the type, prices the metric id)."""
    pricing_type = PricingType(structure["pricingType"])
    months = None
    if usage_calculation_period:
        months = FREQUENCY_MONTHS[Frequency(usage_calculation_period["frequency"])] * int(
            usage_calculation_period.get("interval", 1)
        )
    overages = structure.get("overagesBillingFrequency")
    seat_metric_id = structure.get("seatMetricId")
    return PriceSpec(
        id=price_id,
        name=name,
        currency=currency,
        pricing_type=pricing_type,
        billing_frequency=Frequency(billing_frequency),
        billing_type=BillingType(billing_type),
        product_id=product_id,
        price=_req_dec(structure.get("price")),
        usage_metric_id=structure.get("usageMetricId"),
        price_per_unit=_req_dec(structure.get("pricePerUnit")),
        is_percentage=bool(structure.get("isPricePercentage", False)),
        min_price=_dec(structure.get("minPrice")),
        max_price=_dec(structure.get("maxPrice")),
        package_size=_req_dec(structure.get("packageSize"), Decimal(1)),
        price_per_package=_req_dec(structure.get("pricePerPackage")),
        tiers=tiers_from_json(structure.get("tiers")),
        usage_calculation_mode=UsageCalculationMode(structure.get("usageCalculationMode") or "BILLING_PERIOD"),
        usage_calculation_months=months,
        seat_type=(seat_types or {}).get(seat_metric_id, seat_metric_id) if seat_metric_id else None,
        price_per_seat=_req_dec(structure.get("pricePerSeat")),
        proration_strategy=ProrationStrategy(structure.get("prorationStrategy") or "PRORATE_INCREMENTS"),
        contracted_minimum_seats=int(structure.get("contractedMinimumSeats") or 0),
        # "NONE" is how the API serves a null (overages billed with the price's own frequency)
        overages_billing_frequency=Frequency(overages) if overages and overages != "NONE" else None,
    )


def metric_from_json(metric_id: str, raw: Mapping[str, Any]) -> MetricSpec:
    filters = raw.get("propertyFilters") or {}
    return MetricSpec(
        id=metric_id,
        name=str(raw.get("name", "")),
        event_type=raw["eventType"],
        aggregation_type=AggregationType(raw["aggregationType"]),
        aggregation_property=raw.get("aggregationProperty"),
        property_filters={k: tuple(str(v) for v in vs) for k, vs in filters.items()},
        case_sensitive=bool(raw.get("caseSensitive", True)),
        properties_to_negate=frozenset(raw.get("propertiesToNegate") or ()),
    )
