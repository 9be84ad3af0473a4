"""Usage-event validation of properties (SPEC §2.6): NUL characters anywhere and the 32 KiB bound."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from billrun.ingest.validation import usage_event
from billrun.store.events import NewUsageEvent
from billrun.validation import FieldError

RECEIVED = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)


def _validate(properties: Any) -> tuple[NewUsageEvent | None, list[FieldError]]:
    errors: list[FieldError] = []
    body = {"customerAlias": "c", "eventType": "call", "eventProperties": properties}
    return usage_event(body, "events[0]", errors, RECEIVED), errors


@pytest.mark.parametrize(
    "properties",
    [{"note": "a\x00b"}, {"k\x00": 1}, {"nested": {"list": ["x", "y\x00"]}}, {"both": "\\u0000 and \x00"}],
)
def test_a_nul_anywhere_in_the_properties_is_refused(properties: Any) -> None:
    parsed, errors = _validate(properties)
    assert parsed is None
    assert [(e.code, e.key) for e in errors] == [("invalidFormat", "events[0].eventProperties")]


def test_the_six_characters_backslash_u0000_are_text_not_a_nul() -> None:
    parsed, errors = _validate({"note": "\\u0000", "path": "C:\\\\u0000"})
    assert errors == []
    assert parsed is not None
    assert parsed.properties_json == '{"note":"\\\\u0000","path":"C:\\\\\\\\u0000"}'


def test_properties_are_bounded_by_their_utf8_size() -> None:
    ascii_fits, errors = _validate({"k": "x" * (32 * 1024 - 10)})
    assert ascii_fits is not None and errors == []
    # 9,000 characters of three bytes each: 27,000 bytes of text fit, 11,000 of them (33,000 bytes) do not
    assert _validate({"k": "€" * 9000})[0] is not None
    too_big, errors = _validate({"k": "€" * 11000})
    assert too_big is None
    assert [e.code for e in errors] == ["tooLong"]
