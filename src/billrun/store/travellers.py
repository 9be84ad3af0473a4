"""Reads of time travellers that no single traveller's use case owns."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from billrun.domain.statuses import TravellerStatus
from billrun.store.models import TimeTraveller


def in_progress(session: Session, since_before: dt.datetime | None = None) -> list[uuid.UUID]:
    """Travellers advancing (IN_PROGRESS), those last changed before ``since_before`` if given."""
    stmt = select(TimeTraveller.id).where(TimeTraveller.status == TravellerStatus.IN_PROGRESS)
    if since_before is not None:
        stmt = stmt.where(TimeTraveller.updated_at < since_before)
    return list(session.scalars(stmt))
