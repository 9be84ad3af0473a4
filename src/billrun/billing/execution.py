"""Executing one billing run exactly once (SPEC §6.3-§6.6): claim it with a lease in a short transaction,
then persist it with :func:`billrun.billing.persist.persist_claimed` (the one writer, under the schedule's
advisory lock: the invoice, its lines, its snapshot and the run status commit together, and a unique index
on live invoices per (schedule, drafting date) backs it all), and record a failure on the run.
"""

from __future__ import annotations

import datetime as dt
import uuid

import structlog

from billrun import metrics
from billrun.billing import outbox
from billrun.billing.clock import real_now
from billrun.billing.persist import Outcome, persist_claimed
from billrun.billing.rating import PermanentRunError
from billrun.config import get_settings
from billrun.domain.statuses import EventType, ExecutionStatus, RunStatus, Trigger
from billrun.store import runs as run_repo
from billrun.store.db import connection_lost, unit_of_work
from billrun.views.runs import run_json

log = structlog.get_logger(__name__)
RETRY_BACKOFF = [
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=15),
    dt.timedelta(hours=1),
    dt.timedelta(hours=4),
]


def claim(run_id: uuid.UUID, now: dt.datetime, *, force: bool = False) -> uuid.UUID | None:
    """Step 1 (short transaction): take the run with a new claim token and a lease. None means nothing to do:
    COMPLETED or DEPRECATED (unless ``force``, a manual execution), or IN_PROGRESS under a live lease."""
    with unit_of_work() as session:
        run = run_repo.lock_run(session, run_id)
        if run is None or run.status == RunStatus.DEPRECATED:
            return None
        if run.status == RunStatus.COMPLETED and not force:
            return None
        if run.status == RunStatus.IN_PROGRESS and run.lease_expires_at and run.lease_expires_at > now:
            return None  # another worker holds it (a SCHEDULED run's lease only marks it as queued)
        token = uuid.uuid4()
        run.status = RunStatus.IN_PROGRESS
        run.attempts += 1
        run.claim_token = token
        run.lease_expires_at = now + dt.timedelta(seconds=get_settings().lease_seconds)
        run.started_at = now
        run.updated_at = now
        return token


def execute_run(
    run_id: uuid.UUID,
    *,
    clock: dt.datetime | None = None,
    trigger: str | None = None,
    force: bool = False,
    claimed_token: uuid.UUID | None = None,
) -> Outcome:
    """Execute one run exactly once: claim, then compute and persist it as a chunk of one (SPEC §6.3).
    ``clock``: the time its invoice is made at (a traveller's run time). ``claimed_token``: the run was claimed
    already (by a chunk) with this token. A failure is recorded on the run: FAILED, retried later unless it is
    permanent or the run is a traveller's."""
    token = claimed_token or claim(run_id, real_now(), force=force)
    if token is None:
        return Outcome(run_id, ExecutionStatus.SKIPPED)
    try:
        outcomes = persist_claimed([run_id], token, trigger, clock)
    except Exception as exc:  # recorded, then reported; a failed run never blocks the others
        if connection_lost(exc):
            raise  # the database is away: nothing can be recorded now; the task retries in seconds
        # Bad inputs and broken invariants will fail again; database and broker errors are transient.
        permanent = isinstance(exc, PermanentRunError | AssertionError | ValueError | KeyError | TypeError)
        if not record_failure(run_id, exc, token, permanent=permanent, retry=trigger != Trigger.TIME_TRAVELLER):
            return Outcome(run_id, ExecutionStatus.SKIPPED)  # someone else holds the run now (our lease ran out)
        return Outcome(run_id, ExecutionStatus.FAILED)
    return outcomes.get(run_id, Outcome(run_id, ExecutionStatus.SKIPPED))  # not ours any more: skipped


def record_failure(
    run_id: uuid.UUID, exc: BaseException, token: uuid.UUID, *, permanent: bool, retry: bool = True
) -> bool:
    """FAILED with lastError and nextRetryAt (null when it will not be retried), an ERROR log and the
    failure counter (SPEC §6.6). Only while the run is still ours (``token``): a worker that stalled past its
    lease must not mark a run that another worker has taken over or completed. False when it was not ours."""
    now = real_now()
    with unit_of_work() as session:
        run = run_repo.lock_run(session, run_id)
        if run is None or run.claim_token != token or run.status != RunStatus.IN_PROGRESS:
            return False
        run.status = RunStatus.FAILED
        run.lease_expires_at = None
        run.claim_token = None
        run.last_error = {
            "type": "permanent" if permanent else "transient",
            "message": f"{type(exc).__name__}: {exc}"[:2000],
            "at": now.isoformat(),
        }
        attempt = max(run.attempts, 1)
        if permanent or not retry or attempt > len(RETRY_BACKOFF):
            run.next_retry_at = None
        else:
            run.next_retry_at = now + RETRY_BACKOFF[attempt - 1]
        run.updated_at = now
        outbox.publish(session, run.account_id, EventType.BILLING_RUN_FAILED, run_json(run))
        log.error(
            "billing run failed",
            run_id=str(run.id),
            account_id=str(run.account_id),
            schedule_id=str(run.billing_schedule_id),
            drafting_date=run.intended_drafting_date.isoformat(),
            error=run.last_error["message"],
            permanent=permanent,
            next_retry_at=run.next_retry_at.isoformat() if run.next_retry_at else None,
        )
    metrics.incr("billrun_billing_runs_failed_total")
    return True
