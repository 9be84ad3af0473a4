"""The one place billrun reads the wall clock, and the schedule clock that replaces it (SPEC §7)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from billrun.store.models import BillingSchedule, TimeTraveller


def real_now() -> dt.datetime:
    """Real UTC time. Tests freeze it with freezegun/time-machine; nothing else reads the clock."""
    return dt.datetime.now(dt.UTC)


def schedule_now(session: Session, schedule: BillingSchedule) -> dt.datetime:
    """A schedule's "now": its time traveller's ``frozenTime``, or real time when it has none."""
    if schedule.time_traveller_id is not None:
        traveller = session.get(TimeTraveller, schedule.time_traveller_id)
        if traveller is not None:
            return traveller.frozen_time.astimezone(dt.UTC)
    return real_now()


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
