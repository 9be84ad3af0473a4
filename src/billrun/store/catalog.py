"""Catalog queries: which prices and metrics are in use."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from billrun.store.models import Price, SchedulePhase


def price_in_use(session: Session, account_id: uuid.UUID, price_id: str) -> bool:
    """Whether any schedule phase lists the price (such a price cannot be deleted, SPEC §2.4)."""
    stmt = select(func.count()).where(
        SchedulePhase.account_id == account_id, SchedulePhase.price_ids.contains([price_id])
    )
    return bool(session.execute(stmt).scalar_one())


def metric_in_use(session: Session, account_id: uuid.UUID, metric_id: str) -> bool:
    stmt = select(func.count()).where(
        Price.account_id == account_id, text("prices.structure ->> 'usageMetricId' = :metric")
    )
    return bool(session.execute(stmt, {"metric": metric_id}).scalar_one())
