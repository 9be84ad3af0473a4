"""Bulk writes through PostgreSQL's COPY, in the session's own transaction.

A chunk of billing runs writes thousands of invoices, lines and snapshots at once; COPY streams them in one
statement per table, where a multi-row INSERT binds and plans every parameter (SPEC §6.3 "Chunks")."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from billrun import jsonutil
from billrun.store.models import JsonText


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """COPY ``rows`` (values in ``columns`` order) into ``table``."""
    connection: Any = session.connection().connection.dbapi_connection
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def copy_mapped(session: Session, model: type, rows: Sequence[dict[str, Any]]) -> None:
    """COPY dict rows keyed by ``model``'s attribute names, as ``session.execute(insert(model), rows)`` would
    insert them: a value a row leaves out takes the column's Python-side default (NULL without one), a column
    no row names and without a Python-side default is left to the server; JSON values (JSONB and
    :class:`billrun.store.models.JsonText`) are written with :func:`billrun.jsonutil.dumps` (exact decimals), as
    every JSON write of the ORM is."""
    if not rows:
        return
    mapper: Any = inspect(model)
    named = set().union(*rows)
    plan: list[tuple[str, str, Any, bool]] = []  # (attribute, column, default, is JSONB)
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if prop.key in named or column.default is not None:
            plan.append((prop.key, column.name, column.default, isinstance(column.type, JSONB | JsonText)))
    dumps = jsonutil.dumps

    def encoded(row: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for key, _column, default, is_json in plan:
            if key in row:
                value = row[key]
            elif default is None:
                value = None
            else:
                value = default.arg if default.is_scalar else default.arg(None)  # a fresh value per row
            out.append(dumps(value) if is_json and value is not None else value)
        return tuple(out)

    copy_rows(session, mapper.local_table.name, [column for _, column, _, _ in plan], [encoded(r) for r in rows])


def with_defaults(model: type, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` as :func:`copy_mapped` stores them: each attribute a row leaves out takes its column's
    Python-side default. What is written can then be read back without reading it back."""
    mapper: Any = inspect(model)
    defaults = [(p.key, p.columns[0].default) for p in mapper.column_attrs if p.columns[0].default is not None]
    filled = []
    for row in rows:
        full = dict(row)
        for key, default in defaults:
            if key not in full:
                full[key] = default.arg if default.is_scalar else default.arg(None)
        filled.append(full)
    return filled


def values_to_json(values: dict[str, Any]) -> str:
    """Row values as JSON text for :func:`values_from_json`: the row's own UUIDs, decimals, dates and
    timestamps as strings (one pass here; through the encoder's fallback, each would cost a Python call and
    each decimal a substitution pass), JSONB values by :func:`billrun.jsonutil.dumps`."""
    return jsonutil.dumps({key: _SCALAR_TEXT.get(type(value), _same)(value) for key, value in values.items()})


def _same(value: Any) -> Any:
    return value


_SCALAR_TEXT: dict[type, Any] = {
    uuid.UUID: str,
    Decimal: str,
    dt.date: dt.date.isoformat,
    dt.datetime: dt.datetime.isoformat,
}


def values_from_json(model: type, values: dict[str, Any]) -> dict[str, Any]:
    """Row values (keyed by ``model``'s attribute names) back from :func:`values_to_json`'s text: dates,
    timestamps, UUIDs and decimals as the column types say, everything else as parsed."""
    mapper: Any = inspect(model)
    decoded = dict(values)
    for prop in mapper.column_attrs:
        value = values.get(prop.key)
        if value is None or isinstance(prop.columns[0].type, JSONB | JsonText):
            continue
        kind = prop.columns[0].type.python_type
        if kind is dt.datetime:
            decoded[prop.key] = dt.datetime.fromisoformat(value)
        elif kind is dt.date:
            decoded[prop.key] = dt.date.fromisoformat(value)
        elif kind is uuid.UUID:
            decoded[prop.key] = uuid.UUID(value)
        elif kind is Decimal:
            decoded[prop.key] = Decimal(str(value))
    return decoded
