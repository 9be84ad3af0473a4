"""Path parameters validated into the error envelope."""

from __future__ import annotations

import datetime as dt

from billrun.api.errors import field_error
from billrun.validation import parse_date


def path_date(raw: str) -> dt.date:
    parsed = parse_date(raw)
    if parsed is None:
        raise field_error("date", "invalidFormat", "date must be YYYY-MM-DD")
    return parsed
