"""Due items and drafting dates: what each invoice of a schedule contains (SPEC §4.3-§4.4, §4.9).

A *due item* is one thing charged on one drafting date D: a price over one service period, a seat overage
window, a minimum period's true-up, or an ON_DEMAND day. The schedule's drafting dates are the union of
its items' dates; each D gets one billing run and one invoice holding every item due on D.

    IN_ARREARS    D = E + 1, E the end of the grid period holding the service period (clipped to the
                  schedule end and to a RESET cut), so a phase boundary never moves D
    IN_ADVANCE    D = s, the service period's (clipped) start
    once-only     only the first service period of the first phase that lists the price
    ON_DEMAND     D = d + 1 for each day d with matching events
    overage       D = the end of the overage window's grid period + 1
    true-up       D = e + 1, e the end of the minimum period clipped to its phase
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from billrun.domain.inputs import BillingType, PricingType, RecurrencePreference, ScheduleSpec
from billrun.domain.periods import (
    FREQUENCY_MONTHS,
    ONE_DAY,
    DateRange,
    Segment,
    clip,
    grid_period,
    segment_of,
    segments,
)

SHORT_HORIZON_DAYS = 45  # over a month: a monthly schedule always drafts within it


class ItemKind(StrEnum):
    CHARGE = "CHARGE"
    SEAT_OVERAGE = "SEAT_OVERAGE"
    TRUE_UP = "TRUE_UP"
    ON_DEMAND = "ON_DEMAND"


@dataclass(frozen=True)
class DueItem:
    kind: ItemKind
    drafting_date: dt.date
    phase_index: int
    service: DateRange  # the price's service period (a true-up: the minimum period s..e)
    full: DateRange  # the full grid period that proration divides by
    grid_start: dt.date  # start of the clipped grid period: the billingPeriod start of arrears invoices
    arrears: bool
    price_id: str | None = None
    window: DateRange | None = None  # overage window, or the ON_DEMAND day
    windows: tuple[DateRange, ...] = ()  # all overage windows of the service period, in order
    window_index: int = 0
    minimum_index: int | None = None
    with_overage: bool = False  # an in-arrears seat item that bills its overage itself

    def sort_key(self, schedule: ScheduleSpec) -> tuple[int, int, dt.date, int, int, dt.date]:
        """Charge line order (SPEC §4.12): phase, price position, service period start, then the item's
        own part (the main charge before its overage windows)."""
        phase = schedule.phases[self.phase_index]
        position = phase.price_ids.index(self.price_id) if self.price_id in phase.price_ids else len(phase.price_ids)
        part = 0 if self.kind == ItemKind.CHARGE else 1
        return (
            self.phase_index,
            position,
            self.service.start,
            part,
            self.window_index,
            self.window.start if self.window else self.service.start,
        )


def schedule_segments(schedule: ScheduleSpec) -> list[Segment]:
    resets = [p.start for p in schedule.phases if p.recurrence == RecurrencePreference.RESET]
    return segments(schedule.start, schedule.end, resets, schedule.recurrence_day)


def phase_range(schedule: ScheduleSpec, index: int) -> DateRange | None:
    phase = schedule.phases[index]
    return clip(phase.start, phase.end, schedule.start, schedule.end)


def service_periods(
    schedule: ScheduleSpec, segs: list[Segment], months: int, within: DateRange, horizon: dt.date
) -> Iterator[tuple[DateRange, DateRange, DateRange]]:
    """(service period, full grid period, clipped grid period) for each grid period of ``months`` that meets
    ``within``, in order, while the service period starts on or before ``horizon``."""
    day = within.start
    while day <= within.end and day <= horizon:
        period = grid_period(segment_of(segs, day), months, schedule.recurrence_day, day)
        service = period.clipped.intersect(within)
        assert service is not None
        yield service, period.full, period.clipped
        if service.end >= within.end:
            return
        day = service.end + ONE_DAY


def accumulation_start(schedule: ScheduleSpec, phase_index: int, price_id: str) -> dt.date:
    """Start of the unbroken run of consecutive phases listing the price; a RESET breaks it (SPEC §4.6.7)."""
    start_index = phase_index
    while start_index > 0:
        current = schedule.phases[start_index]
        previous = schedule.phases[start_index - 1]
        if current.recurrence == RecurrencePreference.RESET or price_id not in previous.price_ids:
            break
        start_index -= 1
    return max(schedule.phases[start_index].start, schedule.start)


def _first_listing_phase(schedule: ScheduleSpec, price_id: str) -> int:
    return next(i for i, p in enumerate(schedule.phases) if price_id in p.price_ids)


def minimum_prices(schedule: ScheduleSpec, phase_index: int, minimum_index: int) -> list[str]:
    """Prices a minimum covers: its restriction, or every recurring price of the phase (SPEC §4.9)."""
    phase = schedule.phases[phase_index]
    minimum = phase.minimums[minimum_index]
    if minimum.restrict_to_prices:
        return [p for p in phase.price_ids if p in minimum.restrict_to_prices]
    return [p for p in phase.price_ids if not schedule.prices[p].is_once_only and not schedule.prices[p].is_on_demand]


def due_items(
    schedule: ScheduleSpec,
    horizon: dt.date,
    on_demand_days: Mapping[str, frozenset[dt.date]] | None = None,
) -> list[DueItem]:
    """Every item whose period starts on or before ``horizon`` (their D may lie later). ``on_demand_days``
    maps each ON_DEMAND price to the UTC days that have matching events."""
    segs = schedule_segments(schedule)
    items: list[DueItem] = []
    for index, phase in enumerate(schedule.phases):
        within = phase_range(schedule, index)
        if within is None:
            continue
        for price_id in phase.price_ids:
            price = schedule.prices[price_id]
            if price.is_on_demand:
                for day in sorted((on_demand_days or {}).get(price_id, frozenset())):
                    if day in within and day <= horizon:
                        one = DateRange(day, day)
                        items.append(
                            DueItem(ItemKind.ON_DEMAND, day + ONE_DAY, index, one, one, day, True, price_id, window=one)
                        )
                continue
            if price.is_once_only and _first_listing_phase(schedule, price_id) != index:
                continue
            for service, full, clipped in service_periods(schedule, segs, price.period_months, within, horizon):
                items.extend(_price_items(schedule, segs, index, price_id, service, full, clipped))
                if price.is_once_only:
                    break
        for m_index, _ in enumerate(phase.minimums):
            covered = minimum_prices(schedule, index, m_index)
            if not covered:
                continue
            months = schedule.prices[covered[0]].period_months
            for service, full, _clipped in service_periods(schedule, segs, months, within, horizon):
                items.append(
                    DueItem(
                        ItemKind.TRUE_UP,
                        service.end + ONE_DAY,
                        index,
                        service,
                        full,
                        service.start,
                        True,
                        minimum_index=m_index,
                    )
                )
    return items


def _price_items(
    schedule: ScheduleSpec,
    segs: list[Segment],
    phase_index: int,
    price_id: str,
    service: DateRange,
    full: DateRange,
    clipped: DateRange,
) -> list[DueItem]:
    price = schedule.prices[price_id]
    arrears = price.billing_type == BillingType.IN_ARREARS
    drafting = clipped.end + ONE_DAY if arrears else service.start
    if price.pricing_type != PricingType.SEAT_BASED:
        return [DueItem(ItemKind.CHARGE, drafting, phase_index, service, full, clipped.start, arrears, price_id)]
    overage_months = (
        FREQUENCY_MONTHS.get(price.overages_billing_frequency) if price.overages_billing_frequency else None
    )
    if overage_months is None or overage_months >= price.period_months:
        if arrears:
            return [
                DueItem(
                    ItemKind.CHARGE,
                    drafting,
                    phase_index,
                    service,
                    full,
                    clipped.start,
                    True,
                    price_id,
                    window=service,
                    windows=(service,),
                    with_overage=True,
                )
            ]
        windows_dates = [(service, clipped)]
    else:
        windows_dates = [
            (window, window_clipped)
            for window, _full, window_clipped in service_periods(schedule, segs, overage_months, service, service.end)
        ]
    windows = tuple(w for w, _ in windows_dates)
    items = [
        DueItem(
            ItemKind.CHARGE, drafting, phase_index, service, full, clipped.start, arrears, price_id, windows=windows
        )
    ]
    for i, (window, window_clipped) in enumerate(windows_dates):
        items.append(
            DueItem(
                ItemKind.SEAT_OVERAGE,
                window_clipped.end + ONE_DAY,
                phase_index,
                service,
                full,
                window_clipped.start,
                True,
                price_id,
                window=window,
                windows=windows,
                window_index=i,
            )
        )
    return items


def items_due_on(
    schedule: ScheduleSpec, drafting_date: dt.date, on_demand_days: Mapping[str, frozenset[dt.date]] | None = None
) -> list[DueItem]:
    items = [i for i in due_items(schedule, drafting_date, on_demand_days) if i.drafting_date == drafting_date]
    return sorted(items, key=lambda i: i.sort_key(schedule))


def drafting_dates(
    schedule: ScheduleSpec, up_to: dt.date, on_demand_days: Mapping[str, frozenset[dt.date]] | None = None
) -> list[dt.date]:
    """The schedule's drafting dates on or before ``up_to``, ascending."""
    return sorted({i.drafting_date for i in due_items(schedule, up_to, on_demand_days) if i.drafting_date <= up_to})


def next_drafting_date(
    schedule: ScheduleSpec, after: dt.date, on_demand_days: Mapping[str, frozenset[dt.date]] | None = None
) -> dt.date | None:
    """The first drafting date strictly after ``after`` (None when the schedule has no more).

    Every item is drafted at most a little over a year after its period starts (yearly periods), so items
    starting within 13 months of ``after`` contain the answer whenever one exists. No item is drafted before
    its period starts, so every item drafted within a shorter horizon starts within it: when the short look
    finds a date inside its horizon, that date is the answer, and the long look (eight times the periods to
    walk, for every schedule a tick plans) is needed only when it does not.
    """
    short_horizon = after + dt.timedelta(days=SHORT_HORIZON_DAYS)
    soon = [i.drafting_date for i in due_items(schedule, short_horizon, on_demand_days) if i.drafting_date > after]
    if soon and min(soon) <= short_horizon:
        return min(soon)
    horizon = after + dt.timedelta(days=400)
    later = [i.drafting_date for i in due_items(schedule, horizon, on_demand_days) if i.drafting_date > after]
    return min(later) if later else None


def first_drafting_date(schedule: ScheduleSpec) -> dt.date | None:
    return next_drafting_date(schedule, schedule.start - ONE_DAY)


def billing_period(items: list[DueItem], drafting_date: dt.date) -> DateRange:
    """The invoice's billingPeriod (SPEC §4.4): ``[S, D-1]`` when anything is in arrears, S the latest start
    of those items' grid periods; otherwise ``[D, earliest end of the service periods starting on D]``."""
    arrears = [i for i in items if i.arrears]
    if arrears:
        return DateRange(max(i.grid_start for i in arrears), drafting_date - ONE_DAY)
    ends = [i.service.end for i in items if i.service.start == drafting_date]
    return DateRange(drafting_date, min(ends) if ends else drafting_date)


def accounting_date(period: DateRange, drafting_date: dt.date) -> dt.date:
    """``min(billingPeriod.endInclusive, D)`` (SPEC §4.4)."""
    return min(period.end, drafting_date)
