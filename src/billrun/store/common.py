"""Lookups shared by the repositories: every read is scoped to one account (tenant isolation)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

T = TypeVar("T")


def as_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def owned(session: Session, model: type[T], account_id: uuid.UUID, row_id: Any, *, lock: bool = False) -> T | None:
    """The row of ``model`` with ``row_id`` if it belongs to ``account_id``; another account's row is
    indistinguishable from a missing one (SPEC §3.1)."""
    parsed = as_uuid(row_id)
    if parsed is None:
        return None
    row = session.get(model, parsed, with_for_update=lock)
    if row is None or getattr(row, "account_id") != account_id:  # noqa: B009
        return None
    return row


def one_of(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column = ANY(:array)``: one bound array instead of ``IN (:p1, ..., :pN)``. A chunk's queries list
    hundreds of ids; an expanded IN list is rendered, parsed and bound parameter by parameter on every call
    (the statement text differs with every length, so no cache helps)."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
