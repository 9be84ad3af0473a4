"""Time travellers: a simulated clock for one schedule (SPEC §7).

``advance`` processes every run with ``scheduledRunTime <= frozenTime`` strictly in drafting-date order, each
with its own run time as the clock, then pending recalculations, then sets READY with a compare-and-set on
``frozenTime`` (a PUT that moved the clock meanwhile makes it go round again).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

from sqlalchemy.orm import Session

from billrun.billing import lifecycle, outbox, planning, recalculation
from billrun.billing.clock import real_now
from billrun.billing.execution import execute_run
from billrun.domain.statuses import EventType, ExecutionStatus, RunStatus, ScheduleStatus, TravellerStatus, Trigger
from billrun.store import recalculations as queue
from billrun.store import runs as run_repo
from billrun.store.db import unit_of_work
from billrun.store.models import BillingRun, BillingSchedule, TimeTraveller
from billrun.views.travellers import traveller_json


def has_work(session: Session, traveller: TimeTraveller) -> bool:
    """Whether the traveller's schedule has anything due at its frozen time: a status transition or a
    drafting date whose run time has come."""
    if traveller.billing_schedule_id is None:
        return False
    schedule = session.get(BillingSchedule, traveller.billing_schedule_id)
    if schedule is None:
        return False
    frozen = traveller.frozen_time
    if schedule.status == ScheduleStatus.PENDING:
        return schedule.start_date <= frozen.date()
    if schedule.status != ScheduleStatus.ACTIVE:
        return False
    if schedule.end_date is not None and schedule.end_date < frozen.date():
        return True
    upcoming = schedule.next_drafting_date
    return upcoming is not None and planning.scheduled_run_time(session, schedule, upcoming) <= frozen


def _due_runs(session: Session, schedule_id: uuid.UUID, frozen: dt.datetime, tried: set[uuid.UUID]) -> list[BillingRun]:
    """The schedule's runs due by ``frozen`` still to execute in this pass, in drafting order: a SCHEDULED run
    always goes (even one run already, when a manual execution re-opened it meanwhile); a run that failed in
    this pass (``tried``) waits for the next one."""
    return [
        r
        for r in run_repo.runs_of(session, schedule_id)
        if r.scheduled_run_time <= frozen
        and (r.status == RunStatus.SCHEDULED or (r.status == RunStatus.FAILED and r.id not in tried))
    ]


def _next_run(traveller_id: uuid.UUID, skip: set[uuid.UUID]) -> tuple[uuid.UUID | None, dt.datetime | None]:
    """Materialise what is due at the frozen time and pick the earliest run still to execute."""
    with unit_of_work() as session:
        traveller = session.get(TimeTraveller, traveller_id)
        if traveller is None or traveller.billing_schedule_id is None:
            return None, None
        schedule = session.get(BillingSchedule, traveller.billing_schedule_id, with_for_update=True)
        if schedule is None:
            return None, None
        frozen = traveller.frozen_time
        candidates = _due_runs(session, schedule.id, frozen, skip)
        first_pending = candidates[0].scheduled_run_time if candidates else None
        # Status transitions due before the next run; then the runs that are due by then.
        planning.apply_status_transitions(session, schedule, first_pending or frozen)
        if schedule.status == ScheduleStatus.ACTIVE:
            planning.materialize(
                session, schedule, planning.last_due_date(session, schedule, frozen), Trigger.TIME_TRAVELLER
            )
            session.flush()
        candidates = _due_runs(session, schedule.id, frozen, skip)
        if not candidates:
            return None, frozen
        run = candidates[0]
        return run.id, run.scheduled_run_time


def advance(traveller_id: uuid.UUID) -> None:
    attempted: set[uuid.UUID] = set()
    while True:
        run_id, run_time = _next_run(traveller_id, attempted)
        if run_id is not None:
            attempted.add(run_id)
            outcome = execute_run(run_id, clock=run_time, trigger=Trigger.TIME_TRAVELLER)
            if outcome.status == ExecutionStatus.FAILED:
                _record_failed(traveller_id, run_id)
            _auto_issue(traveller_id, run_time)
            continue
        settled = recalculation.process_for_traveller(traveller_id)
        _auto_issue(traveller_id, run_time)
        if _finish(traveller_id, run_time, attempted):
            return
        # not finished: a run or a recalculation of this schedule is executing elsewhere (a concurrent pass,
        # a manual trigger); let it commit rather than spin on the schedule's locks
        time.sleep(0.05 if settled else 0.1)


def _auto_issue(traveller_id: uuid.UUID, now: dt.datetime | None) -> None:
    """Step 3 of each traveller run: the auto-issues due by the run's time (SPEC §7)."""
    with unit_of_work() as session:
        traveller = session.get(TimeTraveller, traveller_id)
        if traveller is not None and traveller.billing_schedule_id is not None and now is not None:
            lifecycle.auto_issue_due(session, now, traveller.billing_schedule_id)


def _record_failed(traveller_id: uuid.UUID, run_id: uuid.UUID) -> None:
    with unit_of_work() as session:
        traveller = session.get(TimeTraveller, traveller_id, with_for_update=True)
        if traveller is not None and str(run_id) not in traveller.failed_billing_run_ids:
            traveller.failed_billing_run_ids = [*traveller.failed_billing_run_ids, str(run_id)]


def _finish(traveller_id: uuid.UUID, seen_frozen: dt.datetime | None, attempted: set[uuid.UUID]) -> bool:
    """READY via compare-and-set: only when ``frozenTime`` has not moved and nothing is pending (no queued
    recalculation, no due run that this pass has not tried). Locks the schedule before the traveller, the
    same order as every other writer of both (the manual trigger, schedule creation)."""
    with unit_of_work() as session:
        found = session.get(TimeTraveller, traveller_id)
        if found is None:
            return True
        schedule = (
            session.get(BillingSchedule, found.billing_schedule_id, with_for_update=True)
            if found.billing_schedule_id is not None
            else None
        )
        traveller = session.get(TimeTraveller, traveller_id, with_for_update=True, populate_existing=True)
        assert traveller is not None
        if seen_frozen is not None and traveller.frozen_time != seen_frozen:
            return False
        if schedule is not None:
            if queue.pending_for_schedule(session, schedule.id):
                return False
            if _due_runs(session, schedule.id, traveller.frozen_time, attempted):
                return False
            planning.apply_status_transitions(session, schedule, traveller.frozen_time)
        if traveller.status != TravellerStatus.READY:
            traveller.status = TravellerStatus.READY
            traveller.updated_at = real_now()
            outbox.publish(
                session, traveller.account_id, EventType.TIME_TRAVELLER_READY, traveller_json(traveller), traveller.id
            )
        return True


def clear_failures_for_retry(traveller: TimeTraveller) -> None:
    """A later PUT retries the failed runs that are due: they leave ``failedBillingRunIds`` until they fail
    again."""
    traveller.failed_billing_run_ids = []
