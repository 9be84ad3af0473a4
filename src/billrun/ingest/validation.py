"""Validation of usage and seat events (SPEC §2.6-§2.7, §5.6). A non-numeric property value is never a
request error (SPEC §5.4): it is stored and excluded from SUM and MAX at calculation time."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from billrun import jsonutil
from billrun.store.events import NewSeatEvent, NewUsageEvent
from billrun.validation import FieldError, Fields, contains_nul

MAX_PROPERTIES = 100
MAX_PROPERTIES_BYTES = 32 * 1024


def usage_event(body: Any, path: str, errors: list[FieldError], received_at: dt.datetime) -> NewUsageEvent | None:
    before = len(errors)
    v = Fields(body, path, errors)
    event_id = v.string("customerEventId", required=False)
    alias = v.string("customerAlias")
    event_type = v.string("eventType")
    timestamp = v.timestamp("eventTimestamp", required=False) if v.has("eventTimestamp") else received_at
    properties = v.raw("eventProperties")
    serialised = None
    if properties is None:
        properties = {}
    elif not isinstance(properties, dict):
        v.error("eventProperties", "invalidType", "eventProperties must be a JSON object")
        properties = {}
    elif len(properties) > MAX_PROPERTIES:
        v.error("eventProperties", "outOfRange", f"eventProperties takes at most {MAX_PROPERTIES} keys")
    elif any(len(k) > 255 for k in properties):
        v.error("eventProperties", "tooLong", "eventProperties keys are at most 255 characters")
    else:
        serialised = jsonutil.dumps(properties)
        # JSON writes a NUL as \u0000: only a text holding that sequence needs the walk through the values
        if "\\u0000" in serialised and contains_nul(properties):
            v.error("eventProperties", "invalidFormat", "eventProperties must not contain NUL characters")
            serialised = None
        elif len(serialised.encode()) > MAX_PROPERTIES_BYTES:
            v.error("eventProperties", "tooLong", "eventProperties must serialise to at most 32 KiB")
    if len(errors) > before or alias is None or event_type is None or timestamp is None:
        return None
    return NewUsageEvent(
        event_id or str(uuid.uuid4()),
        alias,
        event_type,
        timestamp,
        properties,
        generated_id=event_id is None,
        properties_json=serialised,
    )


def seat_event(body: Any, path: str, errors: list[FieldError], seat_types: set[str]) -> NewSeatEvent | None:
    before = len(errors)
    v = Fields(body, path, errors)
    event_id = v.string("customerEventId", required=False)
    alias = v.string("customerAlias")
    seat_type = v.string("seatType", max_len=64)
    if seat_type is not None and seat_type not in seat_types:
        v.error("seatType", "unknownReference", f"no seat metric has seatType {seat_type!r}")
    timestamp = v.timestamp("eventTimestamp")
    total = v.integer("total", minimum=0, digit_string=True)
    if len(errors) > before or alias is None or seat_type is None or timestamp is None or total is None:
        return None
    return NewSeatEvent(
        event_id or str(uuid.uuid4()), alias, seat_type, timestamp, total, generated_id=event_id is None
    )


def batch(
    items: list[Any], parse: Callable[[Any, str, list[FieldError]], Any], key_prefix: str = "events"
) -> tuple[list[tuple[int, Any]], list[dict[str, Any]]]:
    """Each element on its own: (index, parsed) for valid ones, per-index error lists for the rest."""
    valid: list[tuple[int, Any]] = []
    failures: list[dict[str, Any]] = []
    for index, element in enumerate(items):
        errors: list[FieldError] = []
        parsed = parse(element, f"{key_prefix}[{index}]", errors)
        if errors or parsed is None:
            failures.append({"index": index, "errors": [e.as_json() for e in errors]})
        else:
            valid.append((index, parsed))
    return valid, failures
