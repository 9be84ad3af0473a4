"""Each pricing structure as a function of usage or seats -> exact charge lines (SPEC §4.5-§4.7).

Lines here are exact (``Fraction`` quantity and rate); :mod:`billrun.domain.invoice` rounds them. The
usage and seat data come through :class:`RatingData`, which the billing layer backs with set-based SQL and
the tests with in-memory events, so this module never does I/O.

GRADUATED worked example (SPEC §8 E19, tiers [<=1000 @ 0.10], [>1000 @ 0.05], CUMULATIVE):

    month  usage  U_start  U_end  lines                                         net
    Jan    800    0        800    Tier 1 800 x 0.10                             80.00
    Feb    600    800      1400   Tier 1 200 x 0.10, Tier 2 400 x 0.05          40.00
    Mar    0      1400     1400   Tier 2 0 x 0.05 (the item's one zero line)     0.00
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol

from billrun.domain.drafting import DueItem, ItemKind, accumulation_start
from billrun.domain.inputs import (
    BillingType,
    PriceSpec,
    PricingType,
    ProrationStrategy,
    ScheduleSpec,
    Tier,
    UsageCalculationMode,
)
from billrun.domain.money import round_money
from billrun.domain.periods import ONE_DAY, DateRange, Grid, proration_factor
from billrun.domain.seats import SeatCharge, SeatTimeline, overage_charges
from billrun.domain.usage import UsageValue

TITLE_SEPARATOR = " — "


class RatingData(Protocol):
    """What rating reads: metric values over windows, per-event values, seat timelines."""

    def usage(self, metric_id: str, window: DateRange) -> UsageValue: ...

    def event_values(self, metric_id: str, window: DateRange) -> tuple[Decimal | None, ...]: ...

    def seat_timeline(self, seat_type: str) -> SeatTimeline: ...


@dataclass(frozen=True)
class ExactLine:
    kind: str  # CHARGE, TIER, FLAT_FEE, SEAT_BASELINE, SEAT_INCREMENT, SEAT_OVERAGE
    title: str
    quantity: Fraction
    rate: Fraction
    rate_display: str = "ABSOLUTE"
    description: str | None = None
    tier: int | None = None
    detail: str = ""  # tells apart lines of one item that share kind and tier (seat increments by day)
    derivation: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=4096)
def fraction(value: Decimal | int) -> Fraction:
    """A price's amount as an exact fraction. Memoised: every schedule of a chunk that bills one price converts
    the same few amounts (equal decimals such as 1.0 and 1 are equal fractions, so sharing an entry is exact)."""
    return Fraction(value)


def _clamp_usage(value: Decimal, warnings: list[str]) -> Decimal:
    """A negative aggregate is clamped to 0 with a warning (SPEC §4.6)."""
    if value < 0:
        warnings.append("negativeUsageClamped")
        return Decimal(0)
    return value


def _usage_derivation(value: UsageValue, window: DateRange) -> dict[str, Any]:
    return {
        "window": [window.start.isoformat(), window.end.isoformat()],
        "value": str(value.value),
        "eventCount": value.event_count,
        "invalidPropertyValues": value.invalid_property_values,
        # the events counted, as a digest and the watermark to derive them again at (SPEC §6.7, revised)
        "eventDigest": value.digest,
        **({"ingestWatermark": value.watermark} if value.watermark is not None else {}),
    }


# --- tiers ----------------------------------------------------------------------------------------------------


def tier_bounds(tiers: tuple[Tier, ...]) -> list[tuple[Fraction, Fraction | None]]:
    """(lower, upper) of each tier: tier i covers (ub_{i-1}, ub_i], ub_0 = 0 (SPEC §4.6.5)."""
    bounds: list[tuple[Fraction, Fraction | None]] = []
    lower = Fraction(0)
    for tier in tiers:
        upper = fraction(tier.upper_bound) if tier.upper_bound is not None else None
        bounds.append((lower, upper))
        lower = upper if upper is not None else lower
    return bounds


def tier_index_for(tiers: tuple[Tier, ...], amount: Fraction) -> int:
    """The tier containing ``amount``; tier 1 holds 0 (upper bounds inclusive)."""
    for i, (_lower, upper) in enumerate(tier_bounds(tiers)):
        if upper is None or amount <= upper:
            return i
    return len(tiers) - 1


def _reached(lower: Fraction, index: int, amount: Fraction) -> bool:
    return index == 0 or amount > lower


def graduated_lines(
    name: str, tiers: tuple[Tier, ...], u_start: Fraction, u_end: Fraction, first_period: bool
) -> list[ExactLine]:
    """``G(U_end) - G(U_start)`` as lines; in the first period of a window ``G(U_start)`` counts as 0, so tier
    1's flat fee is paid there (SPEC §4.6.7). Tier lines with 0 units are left out."""
    lines: list[ExactLine] = []
    for i, ((lower, upper), tier) in enumerate(zip(tier_bounds(tiers), tiers, strict=True)):
        top = u_end if upper is None else min(u_end, upper)
        units = max(Fraction(0), top - max(u_start, lower))
        if units > 0:
            lines.append(
                ExactLine(
                    "TIER",
                    f"{name}{TITLE_SEPARATOR}Tier {i + 1}",
                    units,
                    fraction(tier.price),
                    "PERCENTAGE" if tier.is_percentage else "ABSOLUTE",
                    tier=i + 1,
                )
            )
        newly_reached = _reached(lower, i, u_end) and (first_period or not _reached(lower, i, u_start))
        if tier.fee != 0 and newly_reached:
            lines.append(
                ExactLine(
                    "FLAT_FEE",
                    f"{name}{TITLE_SEPARATOR}Tier {i + 1} flat fee",
                    Fraction(1),
                    fraction(tier.fee),
                    tier=i + 1,
                )
            )
    return lines


def _graduated_zero_line(name: str, tiers: tuple[Tier, ...], cumulative: Fraction) -> ExactLine:
    i = tier_index_for(tiers, cumulative)
    return ExactLine(
        "TIER",
        f"{name}{TITLE_SEPARATOR}Tier {i + 1}",
        Fraction(0),
        fraction(tiers[i].price),
        "PERCENTAGE" if tiers[i].is_percentage else "ABSOLUTE",
        tier=i + 1,
    )


# --- per-event fees -------------------------------------------------------------------------------------------


def _fmt_percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def per_event_fee_line(
    title: str,
    values: tuple[Decimal | None, ...],
    rate: Decimal,
    min_price: Decimal | None,
    max_price: Decimal | None,
    currency: str,
    tier: int | None,
) -> ExactLine:
    """Each event with v > 0 pays round(clamp(v x rate, min, max)); one line of quantity 1 (SPEC §4.6.3)."""
    fees = []
    charged_total = Decimal(0)
    for v in values:
        if v is None or v <= 0:
            continue
        fee = v * rate
        if min_price is not None:
            fee = max(fee, min_price)
        if max_price is not None:
            fee = min(fee, max_price)
        fees.append(round_money(fee, currency))
        charged_total += v
    total = sum(fees, Decimal(0))
    bits = [f"{len(fees)} events", f"{charged_total:f} at {_fmt_percent(rate)}"]
    if min_price is not None:
        bits.append(f"min {min_price:f}")
    if max_price is not None:
        bits.append(f"max {max_price:f}")
    description = ", ".join(bits) + " per event"
    return ExactLine(
        "TIER" if tier else "CHARGE",
        title,
        Fraction(1),
        fraction(total),
        description=description,
        tier=tier,
        derivation={"perEventFees": [str(f) for f in fees]},
    )


# --- rating ---------------------------------------------------------------------------------------------------


def usage_window_start(schedule: ScheduleSpec, item: DueItem, price: PriceSpec) -> dt.date:
    """Where the running total of a CUMULATIVE or PERIODIC price starts for this item (SPEC §4.6.7)."""
    start = accumulation_start(schedule, item.phase_index, price.id)
    if price.usage_calculation_mode == UsageCalculationMode.PERIODIC and price.usage_calculation_months:
        grid = Grid(start, price.usage_calculation_months, start.day)
        window_start = grid.period_containing(item.service.start).start
        return max(window_start, start)
    return start


def rate_item(schedule: ScheduleSpec, item: DueItem, data: RatingData, warnings: list[str]) -> list[ExactLine]:
    """The exact lines of one due item, with the zero-line and seat-merge rules applied (SPEC §4.6)."""
    assert item.price_id is not None
    price = schedule.prices[item.price_id]
    if item.kind == ItemKind.ON_DEMAND:
        lines = _rate_on_demand(schedule, item, price, data, warnings)
        return [line for line in lines if line.quantity != 0]  # days without a charge yield no line
    if price.pricing_type == PricingType.SEAT_BASED:
        lines = _rate_seats(item, price, data)
        return _keep_one_zero(_merge_same_rate(lines))
    lines = _rate_price(schedule, item, price, data, warnings)
    return _keep_one_zero(lines)


def _keep_one_zero(lines: list[ExactLine]) -> list[ExactLine]:
    """Quantity-0 lines are dropped unless the item would have no line at all (SPEC §4.6)."""
    kept = [line for line in lines if line.quantity != 0]
    return kept if kept else lines[:1]


def _merge_same_rate(lines: list[ExactLine]) -> list[ExactLine]:
    """Seat lines of one item with the same rate merge by adding their quantities (SPEC §4.6); the merged
    line keeps the kind of its first non-empty part (a zero baseline merged with increments is an increment)."""
    merged: list[ExactLine] = []
    for line in lines:
        twin = next((m for m in merged if m.rate == line.rate and m.tier == line.tier), None)
        if twin is None:
            merged.append(line)
            continue
        kind = twin.kind if twin.quantity != 0 else line.kind
        kinds = [*twin.derivation.get("merged", [twin.kind]), line.kind]
        parts = [*twin.derivation.get("parts", [_part(twin)]), _part(line)]
        merged[merged.index(twin)] = ExactLine(
            kind,
            twin.title,
            twin.quantity + line.quantity,
            twin.rate,
            twin.rate_display,
            twin.description,
            twin.tier,
            twin.detail,
            {**twin.derivation, "merged": kinds, "parts": parts},
        )
    return merged


def _part(line: ExactLine) -> dict[str, Any]:
    """A seat line as one part of a merged line: what explains its quantity."""
    return {"kind": line.kind, "quantity": str(line.quantity), **line.derivation}


def _rate_price(
    schedule: ScheduleSpec, item: DueItem, price: PriceSpec, data: RatingData, warnings: list[str]
) -> list[ExactLine]:
    name = price.name
    if price.pricing_type in (PricingType.FIXED, PricingType.ONE_TIME):
        if price.is_once_only:
            return [ExactLine("CHARGE", name, Fraction(1), fraction(price.price))]
        factor = proration_factor(item.service, item.full)
        return [
            ExactLine(
                "CHARGE",
                name,
                Fraction(1),
                fraction(price.price) * factor,
                derivation={
                    "prorationNumerator": item.service.days,
                    "prorationDenominator": item.full.days,
                    "fullPeriod": [item.full.start.isoformat(), item.full.end.isoformat()],
                },
            )
        ]
    assert price.usage_metric_id is not None
    if (
        price.pricing_type == PricingType.GRADUATED
        and price.usage_calculation_mode != UsageCalculationMode.BILLING_PERIOD
    ):
        return _rate_cumulative(schedule, item, price, data, warnings)
    measured = data.usage(price.usage_metric_id, item.service)
    u = fraction(_clamp_usage(measured.value, warnings))
    derivation = _usage_derivation(measured, item.service)
    if price.pricing_type == PricingType.LINEAR:
        if price.has_per_event_fees:
            values = data.event_values(price.usage_metric_id, item.service)
            line = per_event_fee_line(
                name, values, price.price_per_unit, price.min_price, price.max_price, price.currency, None
            )
            return [
                ExactLine(
                    line.kind,
                    line.title,
                    line.quantity,
                    line.rate,
                    line.rate_display,
                    line.description,
                    None,
                    "",
                    {**derivation, **line.derivation},
                )
            ]
        display = "PERCENTAGE" if price.is_percentage else "ABSOLUTE"
        return [ExactLine("CHARGE", name, u, fraction(price.price_per_unit), display, derivation=derivation)]
    if price.pricing_type == PricingType.PACKAGE:
        packages = math.ceil(u / fraction(price.package_size))
        return [
            ExactLine(
                "CHARGE",
                name,
                Fraction(packages),
                fraction(price.price_per_package),
                description=f"{_fmt_units(measured.value)} units",
                derivation=derivation,
            )
        ]
    if price.pricing_type == PricingType.VOLUME:
        return _rate_volume(price, u, item, data, derivation)
    # GRADUATED, BILLING_PERIOD
    lines = graduated_lines(name, price.tiers, Fraction(0), u, first_period=True)
    lines = [_with(line, derivation) for line in lines]
    return lines or [_with(_graduated_zero_line(name, price.tiers, u), derivation)]


def _fmt_units(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value != 0 else "0"
    return text


def _with(line: ExactLine, derivation: dict[str, Any]) -> ExactLine:
    return ExactLine(
        line.kind,
        line.title,
        line.quantity,
        line.rate,
        line.rate_display,
        line.description,
        line.tier,
        line.detail,
        {**derivation, **line.derivation},
    )


def _rate_volume(
    price: PriceSpec, u: Fraction, item: DueItem, data: RatingData, derivation: dict[str, Any]
) -> list[ExactLine]:
    """All usage at the tier containing it, plus that tier's fee (SPEC §4.6.6)."""
    i = tier_index_for(price.tiers, u)
    tier = price.tiers[i]
    title = f"{price.name}{TITLE_SEPARATOR}Tier {i + 1}"
    lines: list[ExactLine] = []
    if tier.is_percentage and (tier.min_price is not None or tier.max_price is not None):
        assert price.usage_metric_id is not None
        values = data.event_values(price.usage_metric_id, item.service)
        lines.append(
            _with(
                per_event_fee_line(title, values, tier.price, tier.min_price, tier.max_price, price.currency, i + 1),
                derivation,
            )
        )
    else:
        lines.append(
            ExactLine(
                "TIER",
                title,
                u,
                fraction(tier.price),
                "PERCENTAGE" if tier.is_percentage else "ABSOLUTE",
                tier=i + 1,
                derivation=derivation,
            )
        )
    if tier.fee != 0:
        lines.append(ExactLine("FLAT_FEE", f"{title} flat fee", Fraction(1), fraction(tier.fee), tier=i + 1))
    return lines


def _rate_cumulative(
    schedule: ScheduleSpec, item: DueItem, price: PriceSpec, data: RatingData, warnings: list[str]
) -> list[ExactLine]:
    assert price.usage_metric_id is not None
    window_start = usage_window_start(schedule, item, price)
    first_period = item.service.start <= window_start
    before = Fraction(0)
    derivation: dict[str, Any] = {}
    if not first_period:
        prior = data.usage(price.usage_metric_id, DateRange(window_start, item.service.start - ONE_DAY))
        before = fraction(_clamp_usage(prior.value, warnings))
        derivation["accumulated"] = _usage_derivation(prior, DateRange(window_start, item.service.start - ONE_DAY))
    current = data.usage(price.usage_metric_id, item.service)
    derivation.update(_usage_derivation(current, item.service))
    after = before + fraction(_clamp_usage(current.value, warnings))
    lines = [_with(line, derivation) for line in graduated_lines(price.name, price.tiers, before, after, first_period)]
    return lines or [_with(_graduated_zero_line(price.name, price.tiers, after), derivation)]


def _rate_on_demand(
    schedule: ScheduleSpec, item: DueItem, price: PriceSpec, data: RatingData, warnings: list[str]
) -> list[ExactLine]:
    """Charges for one day's events, with usage accumulating over the phase (SPEC §4.6.8)."""
    assert price.usage_metric_id is not None and item.window is not None
    day = item.window
    today = data.usage(price.usage_metric_id, day)
    usage_today = fraction(_clamp_usage(today.value, warnings))
    derivation = _usage_derivation(today, day)
    if price.pricing_type == PricingType.LINEAR:
        display = "PERCENTAGE" if price.is_percentage else "ABSOLUTE"
        return [
            ExactLine("CHARGE", price.name, usage_today, fraction(price.price_per_unit), display, derivation=derivation)
        ]
    start = accumulation_start(schedule, item.phase_index, price.id)
    before = Fraction(0)
    if day.start > start:
        prior = data.usage(price.usage_metric_id, DateRange(start, day.start - ONE_DAY))
        before = fraction(_clamp_usage(prior.value, warnings))
        derivation["accumulated"] = _usage_derivation(prior, DateRange(start, day.start - ONE_DAY))
    after = before + usage_today
    if price.pricing_type == PricingType.PACKAGE:
        size = fraction(price.package_size)
        packages = math.ceil(after / size) - math.ceil(before / size)
        return [
            ExactLine(
                "CHARGE",
                price.name,
                Fraction(packages),
                fraction(price.price_per_package),
                description=f"{_fmt_units(today.value)} units",
                derivation=derivation,
            )
        ]
    first = before == 0
    return [_with(line, derivation) for line in graduated_lines(price.name, price.tiers, before, after, first)]


# --- seats ----------------------------------------------------------------------------------------------------


def _seat_lines(price: PriceSpec, charge: SeatCharge, label: str, full: DateRange) -> list[ExactLine]:
    """Seats numbered (seat_from, seat_from + seats], priced flat or by graduated per-seat tiers."""
    derivation = {
        "fullPeriod": [full.start.isoformat(), full.end.isoformat()],
        "prorationNumerator": charge.numerator,
        "prorationDenominator": charge.denominator,
        "seatFrom": charge.seat_from,
        "seats": charge.seats,
        "days": charge.multiplicity,
        "changeDay": charge.day.isoformat(),
        "seatType": price.seat_type,
    }
    detail = f"{label}:{charge.day.isoformat()}"
    if not price.tiers:
        return [
            ExactLine(
                charge.kind,
                price.name,
                Fraction(charge.seats * charge.multiplicity),
                fraction(price.price_per_seat) * charge.factor,
                detail=detail,
                derivation=derivation,
            )
        ]
    lines = []
    low, high = Fraction(charge.seat_from), Fraction(charge.seat_from + charge.seats)
    for i, ((lower, upper), tier) in enumerate(zip(tier_bounds(price.tiers), price.tiers, strict=True)):
        top = high if upper is None else min(high, upper)
        seats = max(Fraction(0), top - max(low, lower))
        if seats > 0:
            lines.append(
                ExactLine(
                    charge.kind,
                    f"{price.name}{TITLE_SEPARATOR}Tier {i + 1}",
                    seats * charge.multiplicity,
                    fraction(tier.price) * charge.factor,
                    tier=i + 1,
                    detail=detail,
                    derivation=derivation,
                )
            )
    return lines


def _seat_tier_fees(price: PriceSpec, before: int | None, up_to: int, factor: Fraction) -> list[ExactLine]:
    """Tier fees, once per service period x f, for the tiers that ``up_to`` seats reach and ``before`` seats
    (None: nothing billed yet) did not. Tier 1 always counts as reached (SPEC §4.6.5, §4.7.2)."""

    def reached(count: int, index: int, lower: Fraction) -> bool:
        return index == 0 or count > lower

    lines = []
    for i, ((lower, _upper), tier) in enumerate(zip(tier_bounds(price.tiers), price.tiers, strict=True)):
        if tier.fee != 0 and reached(up_to, i, lower) and not (before is not None and reached(before, i, lower)):
            title = f"{price.name}{TITLE_SEPARATOR}Tier {i + 1} flat fee"
            lines.append(ExactLine("FLAT_FEE", title, Fraction(1), fraction(tier.fee) * factor, tier=i + 1))
    return lines


def _rate_seats(item: DueItem, price: PriceSpec, data: RatingData) -> list[ExactLine]:
    """Baseline, increments and overage of one seat item (SPEC §4.7.2)."""
    assert price.seat_type is not None
    timeline = data.seat_timeline(price.seat_type)
    factor = proration_factor(item.service, item.full)
    arrears = price.billing_type == BillingType.IN_ARREARS
    opening = timeline.opening(item.service.start)
    baseline = price.contracted_minimum_seats if arrears else max(price.contracted_minimum_seats, opening)
    windows = list(item.windows) or [item.service]
    per_window = overage_charges(
        price.proration_strategy.value, timeline, item.service, item.full.days, windows, baseline, in_arrears=arrears
    )
    lines: list[ExactLine] = []
    if item.kind == ItemKind.CHARGE:
        base = SeatCharge(
            "SEAT_BASELINE", 0, baseline, 1, factor, item.service.start, item.service.days, item.full.days
        )
        lines.extend(_seat_lines(price, base, "baseline", item.full))
        lines.extend(_seat_tier_fees(price, None, baseline, factor))
        if not item.with_overage:
            return lines
        charges = per_window[0]
    else:
        charges = per_window[item.window_index]
    peak_before = max([baseline, *(c.seat_from + c.seats for w in per_window[: item.window_index] for c in w)])
    for charge in charges:
        lines.extend(_seat_lines(price, charge, "overage", item.full))
    if price.tiers and charges:
        peak = max(c.seat_from + c.seats for c in charges)
        lines.extend(_seat_tier_fees(price, peak_before, peak, factor))
    if not lines:
        zero_kind = (
            "SEAT_INCREMENT" if price.proration_strategy == ProrationStrategy.PRORATE_INCREMENTS else "SEAT_OVERAGE"
        )
        rate = (
            fraction(price.price_per_seat) / item.full.days
            if price.proration_strategy == ProrationStrategy.PRORATE_ALL_CHANGES
            else fraction(price.price_per_seat) * factor
        )
        lines.append(ExactLine(zero_kind, price.name, Fraction(0), rate))
    return lines
