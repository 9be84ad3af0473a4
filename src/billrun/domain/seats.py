"""Seat balance timelines (SPEC §4.7.1) and the seat strategies (SPEC §4.7.2).

A seat event is an absolute balance: from ``eventTimestamp`` on, its alias holds ``total`` seats. The
customer balance is the sum over alias streams; each stream's balance at t is the total of its event with
the greatest timestamp <= t (ties: the later received), 0 before any event.

Worked example (SPEC §8 E23: M = 5, £20/seat, June 2024 = 30 days; 3 seats from May, 8 on 06-10, 4 on 06-20):

    day            06-01..06-09   06-10..06-19   06-20   06-21..06-30
    dayMax         3              8              8       4        (a seat removed during a day counts)
    USE_MAXIMUM         5 + 3 = 8 seats x 20                      = 160.00
    PRORATE_INCREMENTS  5 x 20, then 3 x 20 x 21/30 from 06-10    = 100.00 + 42.00
    PRORATE_ALL_CHANGES 5 x 20, then 3 seats x 11 days x 20/30    = 100.00 + 22.00
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from billrun.domain.periods import DateRange
from billrun.domain.usage import VOID_ALIAS, window_bounds


@dataclass(frozen=True)
class SeatEventRecord:
    ingest_seq: int
    customer_event_id: str
    customer_alias: str
    seat_type: str
    event_timestamp: dt.datetime
    total: int
    id: str = ""


def winning_seat_rows(events: Iterable[SeatEventRecord]) -> list[SeatEventRecord]:
    """Seat events have their own customerEventId namespace with the same last-received rule (SPEC §5.1)."""
    best: dict[str, SeatEventRecord] = {}
    for event in events:
        current = best.get(event.customer_event_id)
        if current is None or event.ingest_seq > current.ingest_seq:
            best[event.customer_event_id] = event
    return sorted(best.values(), key=lambda e: e.ingest_seq)


@dataclass(frozen=True)
class SeatTimeline:
    """The customer balance b(t) as a step function: ``changes`` are (time, new b) in time order."""

    changes: tuple[tuple[dt.datetime, int], ...]
    event_ids: tuple[str, ...] = ()

    @classmethod
    def build(cls, events: Iterable[SeatEventRecord], seat_type: str, aliases: frozenset[str]) -> SeatTimeline:
        rows = [
            e
            for e in winning_seat_rows(events)
            if e.seat_type == seat_type and e.customer_alias in aliases and e.customer_alias != VOID_ALIAS
        ]
        rows.sort(key=lambda e: (e.event_timestamp, e.ingest_seq))
        streams: dict[str, int] = {}
        changes: list[tuple[dt.datetime, int]] = []
        for row in rows:
            streams[row.customer_alias] = row.total
            total = sum(streams.values())
            ts = row.event_timestamp.astimezone(dt.UTC)
            if changes and changes[-1][0] == ts:
                changes[-1] = (ts, total)  # same instant: the later received one decides
            else:
                changes.append((ts, total))
        return cls(tuple(changes), tuple(e.id for e in rows))

    def balance_at(self, moment: dt.datetime) -> int:
        """b(t): the balance in force at ``moment`` (events at exactly ``moment`` included)."""
        balance = 0
        for ts, total in self.changes:
            if ts > moment:
                break
            balance = total
        return balance

    def opening(self, day: dt.date) -> int:
        """b as ``day`` opens, at 00:00:00Z. An event at exactly that instant is included: b(t) includes an
        event at exactly t (SPEC §4.7.1), so a balance set at midnight is the one held for the whole day, and
        the balance it replaced is never held during ``day``."""
        start, _ = window_bounds(DateRange(day, day))
        return self.balance_at(start)

    def changes_within(self, window: DateRange) -> list[tuple[dt.datetime, int]]:
        start, end = window_bounds(window)
        return [(ts, total) for ts, total in self.changes if start <= ts < end]

    def day_max(self, day: dt.date) -> int:
        """The largest b during ``day``: the balance as the day opens and every balance set later that day (a
        seat removed during the day still counts for it)."""
        start, end = window_bounds(DateRange(day, day))
        return max([self.balance_at(start), *(total for ts, total in self.changes if start < ts < end)])

    def max_over(self, window: DateRange) -> int:
        return max(self.day_max(d) for d in window.each_day())


@dataclass(frozen=True)
class SeatCharge:
    """Seats numbered ``(seat_from, seat_from + seats]``, held for ``multiplicity`` days (1 unless the charge
    is in seat-days), priced at the seat price x ``factor`` in the window containing ``day``."""

    kind: str  # SEAT_BASELINE, SEAT_INCREMENT or SEAT_OVERAGE
    seat_from: int
    seats: int
    multiplicity: int
    factor: Fraction
    day: dt.date
    numerator: int
    denominator: int


def overage_charges(
    strategy: str,
    timeline: SeatTimeline,
    service: DateRange,
    full_days: int,
    windows: list[DateRange],
    baseline: int,
    *,
    in_arrears: bool,
) -> list[list[SeatCharge]]:
    """Seats above ``baseline`` per window, in window order (SPEC §4.7.2).

    Every window is computed from the start of the service period, so the high-water mark carried over
    from earlier windows is the same whichever invoice asks.
    """
    factor = Fraction(service.days, full_days)
    per_window: list[list[SeatCharge]] = [[] for _ in windows]
    if strategy == "USE_MAXIMUM":
        high = baseline
        for i, window in enumerate(windows):
            peak = timeline.max_over(window)
            if peak > high:
                per_window[i].append(
                    SeatCharge("SEAT_OVERAGE", high, peak - high, 1, factor, window.start, service.days, full_days)
                )
                high = peak
        return per_window
    if strategy == "PRORATE_ALL_CHANGES":
        # Time-weighted: seat-days above the baseline, one charge per level so tiers can split it.
        for i, window in enumerate(windows):
            levels: dict[int, int] = {}
            for day in window.each_day():
                level = timeline.day_max(day)
                if level > baseline:
                    levels[level] = levels.get(level, 0) + 1
            for level, days in sorted(levels.items()):
                per_window[i].append(
                    SeatCharge(
                        "SEAT_OVERAGE",
                        baseline,
                        level - baseline,
                        days,
                        Fraction(1, full_days),
                        window.start,
                        1,
                        full_days,
                    )
                )
        return per_window
    # PRORATE_INCREMENTS: each rise above the high-water mark pays from its day to the period's end.
    high = baseline
    rises: list[tuple[dt.date, int]] = []
    if in_arrears:
        rises.append((service.start, timeline.opening(service.start)))
    rises.extend((ts.date(), total) for ts, total in timeline.changes_within(service))
    for day, balance in rises:
        if balance <= high:
            continue
        days_left = (service.end - day).days + 1
        charge = SeatCharge(
            "SEAT_INCREMENT", high, balance - high, 1, Fraction(days_left, full_days), day, days_left, full_days
        )
        high = balance
        for i, window in enumerate(windows):
            if day in window:
                per_window[i].append(charge)
                break
    return per_window
