"""Rating data without a database: computed from in-memory events with the reference semantics of
:mod:`.usage` and :mod:`.seats` (tests use it to compute invoices independently of PostgreSQL), or recorded
(which windows an invoice reads, so that a chunk of runs can fetch them in bulk)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from billrun.domain.inputs import MetricSpec
from billrun.domain.periods import DateRange
from billrun.domain.seats import SeatEventRecord, SeatTimeline
from billrun.domain.usage import ZERO_USAGE, UsageEventRecord, UsageValue, aggregate, per_event_values


@dataclass
class InMemoryData:
    metrics: Mapping[str, MetricSpec]
    aliases: frozenset[str]
    usage_events: list[UsageEventRecord] = field(default_factory=list)
    seat_events: list[SeatEventRecord] = field(default_factory=list)

    def usage(self, metric_id: str, window: DateRange) -> UsageValue:
        return aggregate(self.usage_events, self.metrics[metric_id], self.aliases, window)

    def event_values(self, metric_id: str, window: DateRange) -> tuple[Decimal | None, ...]:
        return per_event_values(self.usage_events, self.metrics[metric_id], self.aliases, window)

    def seat_timeline(self, seat_type: str) -> SeatTimeline:
        return SeatTimeline.build(self.seat_events, seat_type, self.aliases)


class RecordingData:
    """Answers zero to everything and remembers what was asked. Which windows an invoice reads depends on the
    schedule and the drafting date, and almost never on the values (a VOLUME tier with per-event bounds is
    the exception): a reader of recorded windows must still answer anything else on demand."""

    def __init__(self) -> None:
        self.usage_windows: set[tuple[str, DateRange]] = set()
        self.value_windows: set[tuple[str, DateRange]] = set()
        self.seat_types: set[str] = set()

    def usage(self, metric_id: str, window: DateRange) -> UsageValue:
        self.usage_windows.add((metric_id, window))
        return ZERO_USAGE

    def event_values(self, metric_id: str, window: DateRange) -> tuple[Decimal | None, ...]:
        self.value_windows.add((metric_id, window))
        return ()

    def seat_timeline(self, seat_type: str) -> SeatTimeline:
        self.seat_types.add(seat_type)
        return SeatTimeline(())

    @classmethod
    def union(cls, recorded: Iterable[RecordingData]) -> RecordingData:
        """Everything any of ``recorded`` was asked."""
        out = cls()
        for one in recorded:
            out.usage_windows |= one.usage_windows
            out.value_windows |= one.value_windows
            out.seat_types |= one.seat_types
        return out
