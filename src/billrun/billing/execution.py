"""Executing billing runs exactly once (SPEC §6.3-§6.6).

Every entry point (beat tick, manual trigger, time traveller, redelivered task) ends in
:func:`execute_run`: claim with a lease in a short transaction, then compute and persist in one transaction
under the schedule's advisory lock. The invoice, its lines, its snapshot and the run status commit
together, and a unique index on live invoices per (schedule, drafting date) backs it all.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.orm import Session

from billrun import metrics
from billrun.billing import faults
from billrun.billing.clock import real_now
from billrun.billing.invoicing import apply_draft, new_invoice
from billrun.billing.loading import load_context
from billrun.billing.rating import PermanentRunError, Prefetched, compute_for
from billrun.config import get_settings
from billrun.domain.statuses import LIVE_EDITABLE, ExecutionStatus, InvoiceStatus, RunStatus, Trigger
from billrun.store import runs as run_repo
from billrun.store.db import connection_lost, unit_of_work
from billrun.store.models import BillingRun, BillingSchedule

log = structlog.get_logger(__name__)
RETRY_BACKOFF = [
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=15),
    dt.timedelta(hours=1),
    dt.timedelta(hours=4),
]


@dataclass(frozen=True)
class Outcome:
    run_id: uuid.UUID
    status: ExecutionStatus
    invoice_id: uuid.UUID | None = None


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


def persist_run(
    session: Session, run: BillingRun, clock: dt.datetime, trigger: str, prefetched: Prefetched | None = None
) -> uuid.UUID | None:
    """Compute the run's invoice and write it: a new DRAFT, or the live DRAFT recalculated in place; a FINAL
    or SENT invoice is only linked. Returns the invoice id (None for an ON_DEMAND run without lines)."""
    schedule = session.get(BillingSchedule, run.billing_schedule_id)
    assert schedule is not None
    if prefetched is not None and prefetched.ctx.row.updated_at != schedule.updated_at:
        prefetched = None  # the schedule was edited after the chunk was loaded: read it afresh
    ctx = prefetched.ctx if prefetched is not None else load_context(session, schedule)
    existing = run_repo.live_invoice(session, schedule.id, run.intended_drafting_date)
    if existing is not None and existing.status not in LIVE_EDITABLE:
        return existing.id
    draft, data = compute_for(session, ctx, run.intended_drafting_date, prefetched)
    faults.reached("computed", run.id)
    if draft.is_empty and existing is None:
        return None  # a run that bills nothing persists no invoice (SPEC §4.4)
    invoice = existing or new_invoice(ctx, run.intended_drafting_date, clock)
    if existing is None:
        session.add(invoice)
        session.flush()
    invoice.status = InvoiceStatus.DRAFT
    if not apply_draft(session, ctx, invoice, draft, clock, run.id, trigger, data):
        return None
    run.billing_start_date = invoice.billing_period_start
    run.billing_end_date = invoice.billing_period_end
    run.warnings = run_warnings(draft.warnings)
    schedule.last_invoice_id = invoice.id
    return invoice.id


def run_warnings(codes: Sequence[str]) -> list[dict[str, str]]:
    """A run's ``warnings``: the warning codes of its calculation."""
    return [{"code": code, "message": code} for code in codes]


def mark_completed(run: BillingRun, invoice_id: uuid.UUID | None, clock: dt.datetime, trigger: str | None) -> None:
    """The run's side of step 2: COMPLETED, linked to its invoice, lease released (SPEC §6.3)."""
    run.invoice_id = invoice_id
    run.status = RunStatus.COMPLETED
    run.completed_at = clock
    run.lease_expires_at = None
    run.next_retry_at = None
    run.last_error = None
    run.updated_at = real_now()
    if trigger:
        run.trigger = trigger


def execute_run(
    run_id: uuid.UUID,
    *,
    clock: dt.datetime | None = None,
    trigger: str | None = None,
    force: bool = False,
    prefetched: Prefetched | None = None,
    claimed_token: uuid.UUID | None = None,
) -> Outcome:
    """Execute one run exactly once: claim, then compute and persist in one transaction (SPEC §6.3).
    ``claimed_token``: the run was claimed already (by a chunk) with this token."""
    token = claimed_token or claim(run_id, real_now(), force=force)
    if token is None:
        return Outcome(run_id, ExecutionStatus.SKIPPED)
    try:
        with unit_of_work() as session:
            run_repo.bound_transaction(session, get_settings().lease_seconds)
            run = session.get(BillingRun, run_id)
            assert run is not None
            run_repo.lock_schedule_runs(session, run.billing_schedule_id)
            run = run_repo.lock_run(session, run_id)
            if run is None or run.claim_token != token or run.status != RunStatus.IN_PROGRESS:
                return Outcome(run_id, ExecutionStatus.SKIPPED)
            run_clock = clock or real_now()
            invoice_id = persist_run(session, run, run_clock, trigger or run.trigger, prefetched)
            mark_completed(run, invoice_id, run_clock, trigger)
            faults.reached("before-commit", run_id)
            billed = {
                "run_id": str(run_id),
                "schedule_id": str(run.billing_schedule_id),
                "account_id": str(run.account_id),
                "drafting_date": run.intended_drafting_date.isoformat(),
                "invoice_id": str(invoice_id) if invoice_id else None,
                "trigger": trigger or run.trigger,
            }
        log.info("billing run completed", **billed)
        faults.reached("after-commit", run_id)
        return Outcome(run_id, ExecutionStatus.COMPLETED, invoice_id)
    except Exception as exc:  # recorded, then reported; a failed run never blocks the others
        if connection_lost(exc):
            raise  # the database is away: nothing can be recorded now; the task retries in seconds
        # Bad inputs and broken invariants will fail again; database and broker errors are transient.
        permanent = isinstance(exc, PermanentRunError | AssertionError | ValueError | KeyError | TypeError)
        if not record_failure(run_id, exc, token, permanent=permanent, retry=trigger != Trigger.TIME_TRAVELLER):
            return Outcome(run_id, ExecutionStatus.SKIPPED)  # someone else holds the run now (our lease ran out)
        return Outcome(run_id, ExecutionStatus.FAILED)


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
