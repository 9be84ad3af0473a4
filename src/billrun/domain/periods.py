"""The billing-period grid, service periods and proration factors (SPEC §4.1-§4.3, §4.5).

Worked example (SPEC §4.2, recurrence day r = 31, start 2024-01-15, MONTHLY):

    billing days   2023-12-31  2024-01-31  2024-02-29  2024-03-31  2024-04-30
    anchor A       the first billing day >= start = 2024-01-31
    stub           2024-01-15..2024-01-30, 16 days of the full period 2023-12-31..2024-01-30 (31 days)
    then           01-31..02-28, 02-29..03-30, 03-31..04-29, 04-30..05-30

Month-end clamping is recomputed from r every month, so a short month never drags the later ones.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache

ONE_DAY = dt.timedelta(days=1)


class Frequency(StrEnum):
    ON_DEMAND = "ON_DEMAND"
    ONE_TIME = "ONE_TIME"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    HALF_YEARLY = "HALF_YEARLY"
    YEARLY = "YEARLY"


#: Period length in months; ONE_TIME uses 1 for timing, ON_DEMAND is daily (SPEC §4.2).
FREQUENCY_MONTHS = {
    Frequency.ONE_TIME: 1,
    Frequency.MONTHLY: 1,
    Frequency.QUARTERLY: 3,
    Frequency.HALF_YEARLY: 6,
    Frequency.YEARLY: 12,
}


@dataclass(frozen=True, order=True)
class DateRange:
    """An inclusive range of UTC calendar days ``start..end``."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"empty range {self.start}..{self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end

    def covers(self, other: DateRange) -> bool:
        return self.start <= other.start and other.end <= self.end

    def intersect(self, other: DateRange) -> DateRange | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return DateRange(start, end) if start <= end else None

    def each_day(self) -> Iterator[dt.date]:
        day = self.start
        while day <= self.end:
            yield day
            day += ONE_DAY

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"


def clip(start: dt.date, end: dt.date | None, lower: dt.date, upper: dt.date | None) -> DateRange | None:
    """``start..end`` intersected with ``lower..upper`` (``None`` ends are open)."""
    lo = max(start, lower)
    ends = [e for e in (end, upper) if e is not None]
    hi = min(ends) if ends else None
    if hi is not None and hi < lo:
        return None
    return DateRange(lo, hi if hi is not None else dt.date.max)


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def shift_month(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


@lru_cache(maxsize=65_536)  # pure and hot: every grid walk asks for the same few hundred months
def billing_day(year: int, month: int, recurrence_day: int) -> dt.date:
    """``billingDay(y, m) = date(y, m, min(r, daysInMonth(y, m)))`` (SPEC §4.2)."""
    return dt.date(year, month, min(recurrence_day, days_in_month(year, month)))


def first_billing_day_on_or_after(day: dt.date, recurrence_day: int) -> dt.date:
    candidate = billing_day(day.year, day.month, recurrence_day)
    if candidate >= day:
        return candidate
    year, month = shift_month(day.year, day.month, 1)
    return billing_day(year, month, recurrence_day)


def is_monthly_billing_day(day: dt.date, recurrence_day: int) -> bool:
    return billing_day(day.year, day.month, recurrence_day) == day


@dataclass(frozen=True)
class Grid:
    """Boundaries ``B_k = billingDay(month(anchor) + k·months)`` for every integer k (SPEC §4.2)."""

    anchor: dt.date
    months: int
    recurrence_day: int

    def boundary(self, k: int) -> dt.date:
        year, month = shift_month(self.anchor.year, self.anchor.month, k * self.months)
        return billing_day(year, month, self.recurrence_day)

    def index_of(self, day: dt.date) -> int:
        """The k with ``B_k <= day < B_{k+1}``."""
        month_gap = (day.year - self.anchor.year) * 12 + day.month - self.anchor.month
        k = month_gap // self.months
        while self.boundary(k) > day:
            k -= 1
        while self.boundary(k + 1) <= day:
            k += 1
        return k

    def period(self, k: int) -> DateRange:
        return DateRange(self.boundary(k), self.boundary(k + 1) - ONE_DAY)

    def period_containing(self, day: dt.date) -> DateRange:
        return self.period(self.index_of(day))


@dataclass(frozen=True)
class Segment:
    """A stretch of the schedule sharing one grid anchor: the whole schedule, or the part from one RESET
    phase to the next (SPEC §4.3). ``end`` is inclusive; ``None`` is open-ended."""

    start: dt.date
    end: dt.date | None
    anchor: dt.date


@dataclass(frozen=True)
class GridPeriod:
    """One grid period as billing sees it.

    ``full`` is the uncut period that proration divides by; ``clipped`` is the part inside the segment
    and the schedule: its end decides in-arrears drafting dates, its start the invoice's billingPeriod.
    """

    full: DateRange
    clipped: DateRange


def segments(start: dt.date, end: dt.date | None, reset_starts: list[dt.date], recurrence_day: int) -> list[Segment]:
    """Split the schedule at each RESET phase start; the first segment is anchored at the first billing day
    on or after ``start``, each RESET segment at its own start (a monthly billing day, SPEC §2.11)."""
    starts = [start, *sorted(d for d in reset_starts if d > start)]
    result = []
    for i, seg_start in enumerate(starts):
        seg_end = starts[i + 1] - ONE_DAY if i + 1 < len(starts) else end
        anchor = first_billing_day_on_or_after(seg_start, recurrence_day)
        result.append(Segment(seg_start, seg_end, anchor))
    return result


def segment_of(segs: list[Segment], day: dt.date) -> Segment:
    for seg in reversed(segs):
        if seg.start <= day:
            return seg
    return segs[0]


@lru_cache(maxsize=65_536)  # pure; schedules sharing a start and recurrence day share their grid
def grid_period(seg: Segment, months: int, recurrence_day: int, day: dt.date) -> GridPeriod:
    """The grid period of ``months`` containing ``day`` within ``seg``: the period in progress when the next
    RESET starts is cut there, but still prorated against its full length (SPEC §4.3)."""
    full = Grid(seg.anchor, months, recurrence_day).period_containing(day)
    clipped = clip(full.start, full.end, seg.start, seg.end)
    assert clipped is not None, (full, seg, day)
    return GridPeriod(full, clipped)


def proration_factor(service: DateRange, full: DateRange) -> Fraction:
    """``|s..e| / |P|``, exact (SPEC §4.5). A full period gives exactly 1."""
    return Fraction(service.days, full.days)
