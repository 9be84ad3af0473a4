"""Backtests as ``GET /backtests/{id}`` serves them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Row

from billrun.domain.money import money_str
from billrun.store.models import Backtest, BacktestRow
from billrun.views.serialize import day, ts

#: the columns of a backtest's CSV, as ``row_json`` names them
CSV_COLUMNS = [
    "customerId",
    "billingScheduleId",
    "draftingDate",
    "periodStart",
    "periodEnd",
    "currency",
    "oldNetTotal",
    "newNetTotal",
    "delta",
]


def _sums(currency: str, old: Decimal, new: Decimal) -> dict[str, str]:
    return {
        "oldNetTotal": money_str(old, currency),
        "newNetTotal": money_str(new, currency),
        "delta": money_str(new - old, currency),
    }


def backtest_json(b: Backtest, months: list[Row[Any]], affected: list[Row[Any]]) -> dict[str, Any]:
    return {
        "id": str(b.id),
        "status": b.status,
        **b.request,
        "progress": {"schedulesDone": b.schedules_done, "schedulesTotal": b.schedules_total},
        "error": b.error,
        "createdAt": ts(b.created_at),
        "updatedAt": ts(b.updated_at),
        "completedAt": ts(b.completed_at),
        "months": [
            {"currency": currency, "month": month.strftime("%Y-%m"), **_sums(currency, old, new)}
            for currency, month, old, new in months
        ],
        "mostAffectedCustomers": [
            {"customerId": str(customer), "currency": currency, **_sums(currency, old, new)}
            for customer, currency, old, new in affected
        ],
        "csv": f"/api/backtests/{b.id}.csv",
    }


def row_json(r: BacktestRow) -> dict[str, Any]:
    return {
        "customerId": str(r.customer_id),
        "billingScheduleId": str(r.billing_schedule_id),
        "draftingDate": day(r.drafting_date),
        "periodStart": day(r.period_start),
        "periodEnd": day(r.period_end),
        "currency": r.currency,
        **_sums(r.currency, r.old_net, r.new_net),
    }
