"""Keyset pagination on (sort column, id): stable under inserts, ties broken by id (SPEC §3.4)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, DateTime, Numeric, Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session


@dataclass(frozen=True)
class Slice:
    rows: list[Any]
    total: int
    more_before: bool
    more_after: bool


class BadCursor(ValueError):
    """A cursor whose sort value is not of the sort column's type."""


def _coerce(column: InstrumentedAttribute[Any], value: Any) -> Any:
    if value is None:
        return None
    column_type = column.property.columns[0].type
    try:
        if isinstance(column_type, DateTime):
            parsed = dt.datetime.fromisoformat(str(value))
            if parsed.tzinfo is None:
                raise ValueError("naive timestamp")
            return parsed
        if isinstance(column_type, Date):
            return dt.date.fromisoformat(str(value))
        if isinstance(column_type, Numeric):
            number = Decimal(str(value))
            if not number.is_finite() or abs(number.adjusted()) > 40:
                raise ValueError("out of range")
            return number
    except (ValueError, ArithmeticError):
        raise BadCursor(f"the cursor's position {str(value)[:40]!r} does not fit this list") from None
    if isinstance(value, int) or len(str(value)) > 1000:
        raise BadCursor("the cursor's position does not fit this list")
    return value


def keyset(
    session: Session,
    stmt: Select[Any],
    sort_column: InstrumentedAttribute[Any],
    id_column: InstrumentedAttribute[Any],
    *,
    limit: int,
    descending: bool,
    after: tuple[Any, str] | None = None,
    before: tuple[Any, str] | None = None,
) -> Slice:
    """One page of ``stmt`` ordered by (sort_column, id) in the requested direction."""
    total = session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()

    def beyond(cursor: tuple[Any, str], forward: bool) -> Any:
        """Rows past the cursor. In ascending terms NULL sorts after every value (PostgreSQL's NULLS LAST),
        so a nullable sort key (an invoice without an accounting date) pages like any other."""
        value, raw_id = _coerce(sort_column, cursor[0]), uuid.UUID(cursor[1])
        later = forward != descending  # rows after the cursor in ascending terms
        if value is None:
            if later:
                return and_(sort_column.is_(None), id_column > raw_id)
            return or_(sort_column.is_not(None), and_(sort_column.is_(None), id_column < raw_id))
        if later:
            return or_(sort_column > value, sort_column.is_(None), and_(sort_column == value, id_column > raw_id))
        return or_(sort_column < value, and_(sort_column == value, id_column < raw_id))

    backwards = before is not None and after is None
    query = stmt
    if after is not None:
        query = query.where(beyond(after, True))
    if backwards:
        assert before is not None
        query = query.where(beyond(before, False))
    ascending = descending == backwards
    order = (
        (sort_column.asc().nulls_last(), id_column.asc())
        if ascending
        else (sort_column.desc().nulls_first(), id_column.desc())
    )
    rows = list(session.execute(query.order_by(*order).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
        return Slice(rows, total, more, True)
    return Slice(rows, total, after is not None, more)
