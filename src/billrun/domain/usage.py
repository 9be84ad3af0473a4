"""Reference semantics of usage metrics over in-memory events (SPEC §5.1-§5.5).

The PostgreSQL aggregation in ``billrun.store`` is tested against these functions: they are the definition.

- Last received wins: among rows sharing a ``customerEventId`` only the highest ``ingestSeq`` counts (§5.1).
- ``VOID`` as the winning alias makes the event match no customer (§5.2).
- Aliases resolve at calculation time: the caller passes the alias set (§5.3, §4.13).
- Numeric values follow ISO 31-0 (§5.4): JSON numbers, or strings like ``"-7"`` and ``"0.25"``.
- Windows are UTC days: ``s 00:00Z <= t < (e+1) 00:00Z`` (§4.1).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from billrun.domain.inputs import AggregationType, MetricSpec
from billrun.domain.periods import ONE_DAY, DateRange

VOID_ALIAS = "VOID"
_NUMERIC_STRING = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")


@dataclass(frozen=True)
class UsageEventRecord:
    ingest_seq: int
    customer_event_id: str
    customer_alias: str
    event_type: str
    event_timestamp: dt.datetime
    event_properties: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""


_LOW_64 = 2**64 - 1
#: the digest of no events
EMPTY_DIGEST = format(0, "016x")


def event_digest(ids: Iterable[str]) -> str:
    """An order-independent digest of a set of event ids (SPEC §6.7, revised): the sum modulo 2^64 of each
    id's low 64 bits. Event ids are billrun's own UUIDs, whose low 64 bits are random (62 bits of them), so
    they serve as their own hash, and the aggregation query sums them at no cost (``billrun.store.usage``)."""
    return format(sum(uuid.UUID(i).int & _LOW_64 for i in ids) % 2**64, "016x")


@dataclass(frozen=True)
class UsageValue:
    """A metric over one window: the value, how many events counted, and the audit details (SPEC §6.7): the
    counted events' digest and the ingest watermark they were read at (the highest ``ingestSeq`` the
    calculation could see; None where no store was read). ``event_ids`` only when a caller asked for them."""

    value: Decimal
    event_count: int = 0
    invalid_property_values: int = 0
    event_ids: tuple[str, ...] = ()
    digest: str = EMPTY_DIGEST
    watermark: int | None = None


ZERO_USAGE = UsageValue(Decimal(0))


def window_bounds(window: DateRange) -> tuple[dt.datetime, dt.datetime]:
    """``[s 00:00Z, (e+1) 00:00Z)`` (SPEC §4.1)."""
    start = dt.datetime.combine(window.start, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(window.end + ONE_DAY, dt.time(), tzinfo=dt.UTC)
    return start, end


def in_window(timestamp: dt.datetime, window: DateRange) -> bool:
    start, end = window_bounds(window)
    return start <= timestamp.astimezone(dt.UTC) < end


def winning_rows(events: Iterable[UsageEventRecord]) -> list[UsageEventRecord]:
    """The row with the highest ``ingest_seq`` per ``customer_event_id`` (SPEC §5.1)."""
    best: dict[str, UsageEventRecord] = {}
    for event in events:
        current = best.get(event.customer_event_id)
        if current is None or event.ingest_seq > current.ingest_seq:
            best[event.customer_event_id] = event
    return sorted(best.values(), key=lambda e: e.ingest_seq)


def numeric_value(raw: Any) -> Decimal | None:
    """The ISO 31-0 numeric value of a property, or None when it is invalid (SPEC §5.4).

    JSON numbers arrive as ``int`` or ``Decimal`` (billrun parses JSON floats exactly, never through a
    binary float); booleans are not numbers even though Python treats them as ints.
    """
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int | Decimal):
        return Decimal(raw)
    if isinstance(raw, float):  # only from callers that bypassed exact parsing; keep its shortest text
        return Decimal(repr(raw))
    if isinstance(raw, str) and _NUMERIC_STRING.match(raw):
        return Decimal(raw)
    return None


def filter_text(raw: Any) -> str | None:
    """A property as filters compare it: a string as is, any other scalar as its JSON text (SPEC §5.5)."""
    if raw is None or isinstance(raw, dict | list):
        return None if raw is None else json.dumps(raw)
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, Decimal):
        return format(raw, "f")  # as PostgreSQL prints a JSON number: 1E+3 -> 1000
    return str(raw)


def fold(text: str) -> str:
    """Case-insensitive comparison form: NFKC, then Unicode case folding (SPEC §5.5)."""
    return unicodedata.normalize("NFKC", text).casefold()


def passes_filters(properties: Mapping[str, Any], metric: MetricSpec) -> bool:
    """AND across properties, OR within one property's values; negated properties match when the value is
    not listed; a missing property fails a positive filter and passes a negated one (SPEC §5.5)."""
    for prop, allowed in metric.property_filters.items():
        negate = prop in metric.properties_to_negate
        value = filter_text(properties[prop]) if prop in properties else None
        if value is None:
            if not negate:
                return False
            continue
        if metric.case_sensitive:
            listed = value in allowed
        else:
            folded = fold(value)
            listed = any(folded == fold(a) for a in allowed)
        if listed == negate:
            return False
    return True


def matching_events(
    events: Iterable[UsageEventRecord], metric: MetricSpec, aliases: frozenset[str], window: DateRange
) -> list[UsageEventRecord]:
    """The metric's input for one window (SPEC §5.5), from all stored rows (winners are picked here)."""
    return [
        e
        for e in winning_rows(events)
        if e.event_type == metric.event_type
        and e.customer_alias != VOID_ALIAS
        and e.customer_alias in aliases
        and in_window(e.event_timestamp, window)
        and passes_filters(e.event_properties, metric)
    ]


def _unique_key(raw: Any) -> tuple[str, Any] | None:
    if raw is None or raw == "" or isinstance(raw, dict | list):
        return None
    if isinstance(raw, bool):
        return ("bool", raw)
    if isinstance(raw, int | Decimal | float):
        return ("number", Decimal(str(raw)).normalize())
    return ("string", raw)


def aggregate_events(matched: list[UsageEventRecord], metric: MetricSpec) -> UsageValue:
    """COUNT / SUM / UNIQUE / MAX over already-matched events; an empty input yields 0 (SPEC §5.5)."""
    ids = tuple(e.id for e in matched)
    digest = event_digest(ids)
    if metric.aggregation_type == AggregationType.COUNT:
        return UsageValue(Decimal(len(matched)), len(matched), 0, ids, digest)
    prop = metric.aggregation_property or ""
    if metric.aggregation_type == AggregationType.UNIQUE:
        keys = {k for e in matched if (k := _unique_key(e.event_properties.get(prop))) is not None}
        return UsageValue(Decimal(len(keys)), len(matched), 0, ids, digest)
    values = [numeric_value(e.event_properties.get(prop)) for e in matched]
    valid = [v for v in values if v is not None]
    invalid = len(values) - len(valid)
    if metric.aggregation_type == AggregationType.SUM:
        with localcontext() as exact:  # sums are exact, like PostgreSQL numeric
            exact.prec = 1000
            total = sum(valid, Decimal(0))
    else:
        total = max(valid) if valid else Decimal(0)
    return UsageValue(total, len(matched), invalid, ids, digest)


def aggregate(
    events: Iterable[UsageEventRecord], metric: MetricSpec, aliases: frozenset[str], window: DateRange
) -> UsageValue:
    return aggregate_events(matching_events(events, metric, aliases, window), metric)


def per_event_values(
    events: Iterable[UsageEventRecord], metric: MetricSpec, aliases: frozenset[str], window: DateRange
) -> tuple[Decimal | None, ...]:
    """Each counted event's numeric value (None when invalid), in receive order, for per-event fees
    (SPEC §4.6.3)."""
    prop = metric.aggregation_property or ""
    return tuple(numeric_value(e.event_properties.get(prop)) for e in matching_events(events, metric, aliases, window))
