"""The list envelope (SPEC §3.4): ``{"items", "pagination": {"after", "before", "totalResultSize"}}``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.responses import Response
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from billrun.api.errors import field_error
from billrun.api.http import JSONResponse, Page, encode_cursor
from billrun.store.db import unit_of_work
from billrun.store.paging import BadCursor, keyset


def _cursor_value(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value is not None else None)


def list_page(
    page: Page,
    stmt: Select[Any],
    sort_column: InstrumentedAttribute[Any],
    id_column: InstrumentedAttribute[Any],
    serialize: Callable[[Any], dict[str, Any]] | None = None,
    *,
    serialize_rows: Callable[[Session, list[Any]], list[dict[str, Any]]] | None = None,
) -> Response:
    """One page in the list envelope. ``serialize_rows`` serialises the whole page in the page's own session
    (so related rows can be loaded in one query, not one unit of work per row)."""
    with unit_of_work() as session:
        try:
            chunk = keyset(
                session,
                stmt,
                sort_column,
                id_column,
                limit=page.limit,
                descending=page.descending,
                after=page.after,
                before=page.before,
            )
        except BadCursor as exc:
            raise field_error("after" if page.after else "before", "invalidFormat", str(exc)) from exc
        if serialize_rows is not None:
            items = serialize_rows(session, chunk.rows)
        else:
            assert serialize is not None
            items = [serialize(row) for row in chunk.rows]
        key = sort_column.key

        def cursor(row: Any) -> str:
            return encode_cursor(page.scope, _cursor_value(getattr(row, key)), str(row.id))

        after = cursor(chunk.rows[-1]) if chunk.rows and chunk.more_after else None
        before = cursor(chunk.rows[0]) if chunk.rows and chunk.more_before else None
    return JSONResponse(
        {"items": items, "pagination": {"after": after, "before": before, "totalResultSize": chunk.total}}
    )


def all_items(items: list[dict[str, Any]]) -> Response:
    """The list envelope for a complete, unpaged list (an invoice's lines, a rate's versions)."""
    return JSONResponse({"items": items, "pagination": {"after": None, "before": None, "totalResultSize": len(items)}})
