"""Pricing backtests: ``POST /backtests`` (202, the work runs on the ``backtests`` queue), ``GET
/backtests/{id}`` (JSON, or a page with a chart for ``Accept: text/html``) and ``GET /backtests/{id}.csv``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from billrun.api.backtest_input import parse_backtest
from billrun.api.errors import not_found
from billrun.api.http import Caller, JSONResponse, caller, parse_json, raw_body, run_mutation, wants_html
from billrun.billing import backtests
from billrun.billing.documents import backtest_page
from billrun.store import backtests as repo
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import Backtest
from billrun.views.backtests import CSV_COLUMNS, backtest_json, row_json

router = APIRouter()
#: rows inlined in the JSON; all of them are in the CSV
INLINE_ROWS = 1000


@router.post("/backtests", status_code=202)
def create_backtest(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    body = parse_json(raw)

    def action(s: Session) -> tuple[int, Any]:
        parsed = parse_backtest(s, who.account_id, body)
        backtest = backtests.start(s, who.account_id, parsed.first, parsed.last, parsed.replacements, parsed.customers)
        return 202, backtest_json(backtest, [], [])

    return run_mutation(request, who, raw, action)


def _backtest(s: Session, who: Caller, backtest_id: str) -> Backtest:
    backtest = owned(s, Backtest, who.account_id, backtest_id)
    if backtest is None:
        raise not_found("backtest")
    return backtest


@router.get("/backtests/{backtest_id}.csv", response_class=StreamingResponse)
def get_backtest_csv(backtest_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        found = _backtest(s, who, backtest_id).id

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        with unit_of_work() as s:
            for row in repo.rows_of(s, found):
                r = row_json(row)
                writer.writerow([r.get(column) for column in CSV_COLUMNS])
                if out.tell() > 65536:
                    yield out.getvalue()
                    out.seek(0)
                    out.truncate()
        yield out.getvalue()

    headers = {"Content-Disposition": f'attachment; filename="backtest-{found}.csv"'}
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/backtests/{backtest_id}")
def get_backtest(backtest_id: str, request: Request, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        backtest = _backtest(s, who, backtest_id)
        months, affected = repo.monthly_totals(s, backtest.id), repo.most_affected(s, backtest.id)
        body = backtest_json(backtest, months, affected)
        rows: list[dict[str, Any]] = []
        for row in repo.rows_of(s, backtest.id):
            if len(rows) == INLINE_ROWS:
                body["rowsTruncated"] = True
                break
            rows.append(row_json(row))
        body["rows"] = rows
        if wants_html(request):
            return HTMLResponse(backtest_page(s, backtest, body))
    return JSONResponse(body)
