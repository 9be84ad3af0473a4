"""Accepting validated events (SPEC §5): stored with their last-wins flags, and the recalculations they cause
requested, in the caller's transaction; the unit of work enqueues the drain once it commits."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from billrun.ingest.recalculation import request_for_events
from billrun.store import events as event_repo


def accept_usage(
    session: Session, account_id: uuid.UUID, events: Sequence[event_repo.NewUsageEvent], received: dt.datetime
) -> list[event_repo.Stored]:
    stored, superseded = event_repo.insert_usage_events(session, account_id, list(events), received)
    request_for_events(session, account_id, events, superseded)
    return stored


def accept_seats(
    session: Session, account_id: uuid.UUID, events: Sequence[event_repo.NewSeatEvent], received: dt.datetime
) -> list[event_repo.Stored]:
    stored, superseded = event_repo.insert_seat_events(session, account_id, list(events), received)
    request_for_events(session, account_id, events, superseded)
    return stored
