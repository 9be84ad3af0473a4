"""A CSV upload of usage events: ``customerAlias, eventType, eventTimestamp[, customerEventId]`` plus one
column per event property, read into the same elements a JSON batch holds (SPEC §5)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from billrun.billing.errors import Invalid

MAX_CSV_BYTES = 10 * 1024 * 1024
MAX_CSV_ROWS = 10_000
REQUIRED = ("customerAlias", "eventType", "eventTimestamp")
KNOWN = frozenset({*REQUIRED, "customerEventId"})


@dataclass(frozen=True)
class CsvRows:
    elements: list[dict[str, Any]]  # one JSON-shaped event per data row
    lines: list[int]  # the file line of each, for error reports


def read_csv(data: bytes) -> CsvRows:
    """The upload's rows; a file that cannot be read at all is refused as a whole, on ``file``."""
    if len(data) > MAX_CSV_BYTES:
        raise Invalid("a CSV upload is at most 10 MiB", "tooLong", "file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("the CSV must be UTF-8", "invalidFormat", "file") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise Invalid(f"missing required column(s): {', '.join(missing)}", "required", "file")
    rows = CsvRows([], [])
    for row in reader:
        if len(rows.elements) >= MAX_CSV_ROWS:
            raise Invalid(f"a CSV upload holds at most {MAX_CSV_ROWS} rows", "outOfRange", "file")
        element: dict[str, Any] = {k: v for k, v in row.items() if k in KNOWN and v not in (None, "")}
        # extra cells (more than the header names) come under the key None: not a property
        element["eventProperties"] = {k: v for k, v in row.items() if k not in KNOWN and k and v not in (None, "")}
        rows.elements.append(element)
        rows.lines.append(reader.line_num)
    if not rows.elements:
        raise Invalid("the CSV has no data rows", "outOfRange", "file")
    return rows
