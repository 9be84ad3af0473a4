"""Rating data computed from in-memory events with the reference semantics of :mod:`.usage` and
:mod:`.seats`. Tests use it to compute invoices independently of the database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from billrun.domain.inputs import MetricSpec
from billrun.domain.periods import DateRange
from billrun.domain.seats import SeatEventRecord, SeatTimeline
from billrun.domain.usage import UsageEventRecord, UsageValue, aggregate, per_event_values


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
