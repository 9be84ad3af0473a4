"""The beat tick and the manual trigger (SPEC §6.2, §6.4): both only create runs and hand them to
:func:`billrun.billing.execution.execute_run` through the dispatcher."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass

import structlog

from billrun.billing import lifecycle, planning, recalculation, webhook_delivery
from billrun.billing.clock import real_now, schedule_now
from billrun.billing.dispatch import dispatcher
from billrun.billing.errors import Invalid, NotFound, Refused
from billrun.billing.loading import load_contexts
from billrun.config import get_settings
from billrun.domain.statuses import OUTSTANDING, RunStatus, ScheduleStatus, TravellerStatus, Trigger
from billrun.store import runs as run_repo
from billrun.store import schedules as schedule_repo
from billrun.store import travellers as traveller_repo
from billrun.store.db import unit_of_work
from billrun.store.models import BillingSchedule, TimeTraveller

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class TickReport:
    schedules: int
    claimed: int


def tick(now: dt.datetime | None = None) -> TickReport:
    """One beat tick with the real clock: status transitions, discovery with catch-up, claim and enqueue.
    Safe to run concurrently, twice, or not at all for a while."""
    started = time.perf_counter()
    now = now or real_now()
    with unit_of_work() as session:
        pending = schedule_repo.awaiting_transition(session, now.date())
        for schedule in pending:
            planning.apply_status_transitions(session, schedule, now)
    # the broker lost its queue (restarted empty): everything handed out and not yet done goes out again now
    rehand = dispatcher().queue_was_lost()
    discovered = 0
    claimed_total = 0
    while True:
        with unit_of_work() as session:
            due = run_repo.due_schedules(session, now.date(), limit=200)
            # one query per table for the whole batch, not per schedule
            contexts = load_contexts(session, due, with_details=False)
            planning.materialize_due(session, due, contexts, now, Trigger.SCHEDULE)
        discovered += len(due)
        # hand this batch's runs out now: on the first of the month workers bill while discovery goes on,
        # instead of waiting idle until every schedule of the book has been planned
        claimed_total += _hand_out(now, [s.id for s in due])
        if len(due) < 200:
            break
    # retries, expired leases, runs planned by other writers (and, after a lost queue, every handed-out run)
    claimed_total += _hand_out(now, None, rehand=rehand)
    with unit_of_work() as session:
        lifecycle.auto_issue_due(session, now)
    # backstop for the debounced drain: requests whose task was lost, or that waited for a run in flight
    recalculation.process_pending()
    # and for webhook deliveries: tasks lost with the broker, leases of dead workers run out, retries due
    webhook_delivery.sweep()
    _wake_stalled_travellers(now, rehand)
    log.info(
        "tick",
        schedules_planned=discovered,
        runs_enqueued=claimed_total,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return TickReport(discovered, claimed_total)


#: A traveller IN_PROGRESS this long since its clock moved is woken again: its task may have been lost (the
#: broker out of reach when it was to be sent, or restarted empty). Waking one that is still advancing costs a
#: second pass, which is safe (each run is claimed once) and finds nothing left to do.
TRAVELLER_STALL = dt.timedelta(minutes=10)


def _wake_stalled_travellers(now: dt.datetime, queue_lost: bool) -> None:
    with unit_of_work() as session:
        stalled = traveller_repo.in_progress(session, None if queue_lost else now - TRAVELLER_STALL)
    for traveller_id in stalled:
        dispatcher().advance_traveller(traveller_id)
    if stalled:
        log.warning("stalled time travellers woken", travellers=len(stalled), queue_lost=queue_lost)


def _hand_out(now: dt.datetime, schedule_ids: list[uuid.UUID] | None, *, rehand: bool = False) -> int:
    """Claim due runs (of ``schedule_ids`` only, when given) and enqueue them in chunks; returns how many.
    ``rehand``: also the SCHEDULED runs already handed out, whose tasks the broker lost."""
    if schedule_ids == []:
        return 0
    chunk = get_settings().chunk_size
    lease = dt.timedelta(seconds=get_settings().lease_seconds)
    claimed_total = 0
    while True:
        with unit_of_work() as session:
            claimed = run_repo.claim_due(session, now, chunk * 10, lease, schedule_ids, rehand=rehand)
        for start in range(0, len(claimed), chunk):
            dispatcher().execute_runs([run_id for run_id, _ in claimed[start : start + chunk]])
        claimed_total += len(claimed)
        if len(claimed) < chunk * 10:
            return claimed_total


def execute_schedule(
    schedule_id: uuid.UUID, as_of: dt.date | None, *, account_id: uuid.UUID | None = None, queue: bool = True
) -> tuple[dt.date, list[uuid.UUID]]:
    """The manual trigger (SPEC §6.4): materialise every missing run with D <= X, enqueue the SCHEDULED and
    FAILED ones, and re-execute the run for exactly X even when COMPLETED (recalculating a DRAFT, replacing a
    VOIDED or deleted invoice, leaving FINAL and SENT alone)."""
    with unit_of_work() as session:
        schedule = session.get(BillingSchedule, schedule_id, with_for_update=True)
        if schedule is None or (account_id is not None and schedule.account_id != account_id):
            raise NotFound("billing schedule not found")
        if schedule.status in (ScheduleStatus.DRAFT, ScheduleStatus.CANCELLED) or schedule.archived_at is not None:
            raise Refused(f"a {schedule.status} schedule cannot be executed", "invalidStatusTransition")
        now = schedule_now(session, schedule)
        today = planning.last_due_date(session, schedule, now)
        date = as_of or today
        if date > now.date():
            raise Invalid(f"{date} is after the schedule clock's today ({now.date()})", "outOfRange", "date")
        planning.apply_status_transitions(session, schedule, now)
        planning.materialize(session, schedule, date, Trigger.MANUAL)
        session.flush()
        runs = [
            r
            for r in run_repo.runs_of(session, schedule.id, up_to=date)
            if r.status in OUTSTANDING or r.intended_drafting_date == date
        ]
        run_ids = [r.id for r in runs]
        exact = next((r.id for r in runs if r.intended_drafting_date == date), None)
        traveller_id = schedule.time_traveller_id
        if traveller_id is not None and run_ids:
            traveller = session.get(TimeTraveller, traveller_id, with_for_update=True)
            if traveller is not None:
                traveller.status = TravellerStatus.IN_PROGRESS
                traveller.failed_billing_run_ids = []
    if not queue:  # the caller executes the runs itself (``billrun run``)
        return date, run_ids
    if run_ids:
        if traveller_id is not None:
            reopen_completed(exact)
            dispatcher().advance_traveller(traveller_id)
        else:
            if exact is not None:
                reopen_completed(exact)
            dispatcher().execute_runs(run_ids, manual=True)
    return date, run_ids


def reopen_completed(run_id: uuid.UUID | None) -> None:
    """Re-open a COMPLETED run so that the next execution re-computes it (manual executions bypass the
    "nothing to do" check, SPEC §6.4). FINAL/SENT invoices stay untouched (only linked)."""
    if run_id is None:
        return
    with unit_of_work() as session:
        run = run_repo.lock_run(session, run_id)
        if run is not None and run.status == RunStatus.COMPLETED:
            run.status = RunStatus.SCHEDULED
            run.updated_at = real_now()


def execute_account(account_id: uuid.UUID, as_of: dt.date | None) -> tuple[dt.date, list[uuid.UUID]]:
    with unit_of_work() as session:
        ids = schedule_repo.active_real_clock(session, account_id)
    date = as_of or real_now().date()
    run_ids: list[uuid.UUID] = []
    for schedule_id in ids:
        try:
            _, found = execute_schedule(schedule_id, date)
            run_ids.extend(found)
        except Refused:
            continue
    return date, run_ids
