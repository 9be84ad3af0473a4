"""Backtests: their rows, what they re-rate (schedules and the snapshots of what was billed) and their sums."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from billrun.domain.statuses import InvoiceStatus, ScheduleStatus
from billrun.store.common import one_of
from billrun.store.models import BacktestRow, BillingSchedule, CalculationSnapshot, Invoice


def schedule_ids(
    session: Session,
    account_id: uuid.UUID,
    customer_ids: Sequence[uuid.UUID] | None,
    *,
    after: uuid.UUID | None = None,
    limit: int | None = None,
) -> list[uuid.UUID]:
    """The schedules a backtest re-rates: every one of the account that is not a DRAFT (or of the customers
    named), in id order; ``after``/``limit``: the next chunk of them."""
    query = select(BillingSchedule.id).where(
        BillingSchedule.account_id == account_id, BillingSchedule.status != ScheduleStatus.DRAFT
    )
    if customer_ids is not None:
        query = query.where(one_of(BillingSchedule.customer_id, list(customer_ids)))
    if after is not None:
        query = query.where(BillingSchedule.id > after)
    return list(session.execute(query.order_by(BillingSchedule.id).limit(limit)).scalars())


def schedules(session: Session, ids: Sequence[uuid.UUID]) -> list[BillingSchedule]:
    return list(session.execute(select(BillingSchedule).where(one_of(BillingSchedule.id, list(ids)))).scalars())


def billed_snapshots(
    session: Session, ids: Sequence[uuid.UUID], first: dt.date, last: dt.date
) -> dict[tuple[uuid.UUID, dt.date], dict[str, Any]]:
    """The latest calculation snapshot of each invoice (not VOIDED) the schedules drafted in ``first..last``."""
    rows = session.execute(
        select(Invoice.billing_schedule_id, Invoice.drafting_date, CalculationSnapshot.body)
        .join(CalculationSnapshot, CalculationSnapshot.invoice_id == Invoice.id)
        .where(
            one_of(Invoice.billing_schedule_id, list(ids)),
            Invoice.drafting_date.between(first, last),
            Invoice.status != InvoiceStatus.VOIDED,
        )
        .order_by(Invoice.id, CalculationSnapshot.created_at.desc(), CalculationSnapshot.id.desc())
        .distinct(Invoice.id)
    ).all()
    return {(r[0], r[1]): r[2] for r in rows if r[0] is not None and r[1] is not None}


def write_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Idempotent: a chunk done twice (a redelivered task) writes its rows once."""
    if rows:
        session.execute(insert(BacktestRow).values(rows).on_conflict_do_nothing())


def monthly_totals(session: Session, backtest_id: uuid.UUID) -> list[Row[Any]]:
    """(currency, month, old, new) per month of drafting date."""
    month = func.date_trunc("month", BacktestRow.drafting_date)
    return list(
        session.execute(
            select(BacktestRow.currency, month, func.sum(BacktestRow.old_net), func.sum(BacktestRow.new_net))
            .where(BacktestRow.backtest_id == backtest_id)
            .group_by(BacktestRow.currency, month)
            .order_by(BacktestRow.currency, month)
        ).all()
    )


def most_affected(session: Session, backtest_id: uuid.UUID, limit: int = 10) -> list[Row[Any]]:
    """(customer, currency, old, new) of the customers whose total changes most, largest change first."""
    delta = func.sum(BacktestRow.new_net - BacktestRow.old_net)
    return list(
        session.execute(
            select(
                BacktestRow.customer_id,
                BacktestRow.currency,
                func.sum(BacktestRow.old_net),
                func.sum(BacktestRow.new_net),
            )
            .where(BacktestRow.backtest_id == backtest_id)
            .group_by(BacktestRow.customer_id, BacktestRow.currency)
            .order_by(func.abs(delta).desc(), BacktestRow.customer_id)
            .limit(limit)
        ).all()
    )


def rows_of(session: Session, backtest_id: uuid.UUID) -> Iterator[BacktestRow]:
    """Every row, by customer, schedule and date, read in batches (a backtest may hold 240,000)."""
    query = (
        select(BacktestRow)
        .where(BacktestRow.backtest_id == backtest_id)
        .order_by(BacktestRow.customer_id, BacktestRow.billing_schedule_id, BacktestRow.drafting_date)
        .execution_options(yield_per=2000)
    )
    yield from session.execute(query).scalars()
