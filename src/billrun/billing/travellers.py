"""Time travellers as the API drives them (SPEC §7): create one (optionally on a schedule), move its clock
forward. Advancing is :mod:`billrun.billing.travel`'s, woken once the caller's unit of work commits."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from billrun.billing import travel
from billrun.billing.clock import real_now
from billrun.billing.dispatch import advance_after_commit
from billrun.billing.errors import Invalid, Refused
from billrun.domain.statuses import TravellerStatus
from billrun.store import runs as run_repo
from billrun.store.models import BillingSchedule, TimeTraveller


def create(
    session: Session, account_id: uuid.UUID, frozen: dt.datetime, schedule: BillingSchedule | None
) -> TimeTraveller:
    """A traveller at ``frozen``; on ``schedule`` (locked by the caller), which must have no run and no
    traveller yet. It starts advancing at once if the schedule has something due at that time."""
    if schedule is not None and (schedule.time_traveller_id is not None or run_repo.runs_of(session, schedule.id)):
        raise Refused("the schedule already has runs or a time traveller", key="billingScheduleId")
    now = real_now()
    traveller = TimeTraveller(
        account_id=account_id, frozen_time=frozen, status=TravellerStatus.READY, created_at=now, updated_at=now
    )
    session.add(traveller)
    session.flush()
    if schedule is not None:
        schedule.time_traveller_id = traveller.id
        traveller.billing_schedule_id = schedule.id
        if travel.has_work(session, traveller):
            start(session, traveller)
    return traveller


def move(session: Session, traveller: TimeTraveller, frozen: dt.datetime) -> None:
    """Later: the new time is stored IN_PROGRESS and the traveller advances after commit; equal: nothing;
    earlier: refused, time only moves forward (SPEC §7)."""
    if frozen < traveller.frozen_time:
        shown = traveller.frozen_time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        raise Invalid(f"time only moves forward: frozenTime is already {shown}", "outOfRange", "frozenTime")
    if frozen == traveller.frozen_time:
        return
    traveller.frozen_time = frozen
    traveller.updated_at = real_now()
    if traveller.billing_schedule_id is not None:
        travel.clear_failures_for_retry(traveller)
        start(session, traveller)


def start(session: Session, traveller: TimeTraveller) -> None:
    """IN_PROGRESS now, advancing once the caller's transaction commits."""
    traveller.status = TravellerStatus.IN_PROGRESS
    advance_after_commit(session, traveller.id)
