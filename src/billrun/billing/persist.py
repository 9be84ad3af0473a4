"""The one writer of billing runs (SPEC §6.3 step 2): any set of claimed runs (a chunk, or one run, a
traveller's included) computed and persisted in one transaction.

It locks their schedules, loads every schedule with one query per table, prefetches their inputs, computes
every invoice, writes the new ones with one COPY per table, recomputes in place the live invoice a re-executed
run finds (a FINAL or SENT one is only linked), and marks every run COMPLETED with one statement.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.orm import Session

from billrun.billing import faults, outbox
from billrun.billing.clock import real_now
from billrun.billing.invoicing import DraftRows, apply_draft, draft_rows, insert_rows, invoice_values
from billrun.billing.loading import load_contexts
from billrun.billing.rating import Prefetched, compute_for, prefetch
from billrun.config import get_settings
from billrun.domain.statuses import LIVE_EDITABLE, EventType, ExecutionStatus, InvoiceStatus
from billrun.store import runs as run_repo
from billrun.store.bulk import copy_mapped, with_defaults
from billrun.store.db import unit_of_work
from billrun.store.models import Invoice

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Outcome:
    run_id: uuid.UUID
    status: ExecutionStatus
    invoice_id: uuid.UUID | None = None


def run_warnings(codes: Sequence[str]) -> list[dict[str, str]]:
    """A run's ``warnings``: the warning codes of its calculation."""
    return [{"code": code, "message": code} for code in codes]


def persist_claimed(
    run_ids: Sequence[uuid.UUID], token: uuid.UUID, trigger: str | None, clock: dt.datetime | None = None
) -> dict[uuid.UUID, Outcome]:
    """Compute and persist the runs still claimed with ``token``, in one transaction. ``clock``: the time the
    invoices are made at (a traveller's run time); by default, the wall clock as each run is computed. A run
    whose schedule another session holds for long is released, DEFERRED to the next tick. Raises what the
    transaction raised: nothing of it is committed then."""
    outcomes: dict[uuid.UUID, Outcome] = {}
    billed: list[dict[str, Any]] = []  # logged once the transaction has committed
    with unit_of_work() as session:
        run_repo.bound_transaction(session, get_settings().lease_seconds)
        # a crash loses this whole transaction and the tick re-claims the runs: durability can wait (§6.3)
        if get_settings().chunk_synchronous_commit_off:
            run_repo.asynchronous_commit(session)
        schedule_of = run_repo.schedules_of_runs(session, run_ids)
        # before reading any input, so that late events see us (§5.7); a schedule that someone else holds for
        # long (a stalled worker) is not waited for: its runs go back to the next tick
        locked = run_repo.lock_schedules(session, sorted(set(schedule_of.values())))
        deferred = [run_id for run_id, schedule_id in schedule_of.items() if schedule_id not in locked]
        run_repo.release_runs(session, deferred, token, real_now())
        outcomes.update({run_id: Outcome(run_id, ExecutionStatus.DEFERRED) for run_id in deferred})
        runs = run_repo.claimed_runs(session, [r for r in run_ids if schedule_of.get(r) in locked], token)
        contexts = load_contexts(session, run_repo.schedules_to_bill(session, sorted(locked)))
        inputs = prefetch(session, [(r.billing_schedule_id, r.intended_drafting_date) for r in runs], contexts)
        live = run_repo.live_invoices(session, [(r.billing_schedule_id, r.intended_drafting_date) for r in runs])
        new_invoices: list[dict[str, Any]] = []
        written: list[DraftRows] = []
        done: list[run_repo.Completion] = []
        last_invoice: dict[uuid.UUID, uuid.UUID] = {}
        for run in runs:
            run_clock = clock or real_now()
            used_trigger = trigger or run.trigger
            pre = inputs[run.billing_schedule_id]
            existing = live.get((run.billing_schedule_id, run.intended_drafting_date))
            if existing is not None:
                completion = _over_existing(session, run.id, existing, pre, run_clock, used_trigger)
            else:
                draft, data = compute_for(session, pre.ctx, run.intended_drafting_date, pre)
                faults.reached("computed", run.id)
                completion = run_repo.Completion(run.id, None, run_clock, used_trigger)
                if not draft.is_empty:  # a run that bills nothing persists no invoice (SPEC §4.4)
                    values = invoice_values(pre.ctx, run.intended_drafting_date, run_clock)
                    rows = draft_rows(
                        pre.ctx, values["id"], values["currency"], draft, run_clock, run.id, used_trigger, data
                    )
                    new_invoices.append({**values, **rows.totals})
                    written.append(rows)
                    completion = run_repo.Completion(
                        run.id,
                        values["id"],
                        run_clock,
                        used_trigger,
                        rows.totals["billing_period_start"],
                        rows.totals["billing_period_end"],
                        run_warnings(draft.warnings),
                    )
            done.append(completion)
            if completion.invoice_id is not None:
                last_invoice[run.billing_schedule_id] = completion.invoice_id
            outcomes[run.id] = Outcome(run.id, ExecutionStatus.COMPLETED, completion.invoice_id)
            billed.append(
                {
                    "run_id": str(run.id),
                    "schedule_id": str(run.billing_schedule_id),
                    "account_id": str(pre.ctx.row.account_id),
                    "drafting_date": run.intended_drafting_date.isoformat(),
                    "invoice_id": str(completion.invoice_id) if completion.invoice_id else None,
                    "trigger": used_trigger,
                }
            )
        if new_invoices:
            new_invoices = with_defaults(Invoice, new_invoices)
            copy_mapped(session, Invoice, new_invoices)
            insert_rows(session, written)
            _publish_drafted(session, new_invoices, {c.customer.id for c in contexts.values() if c.customer.archived})
        session.flush()  # the recomputed invoices' changes first, so that the statements below have the last word
        run_repo.complete_many(session, done, real_now())
        run_repo.set_last_invoices(session, last_invoice)  # rows locked by schedules_to_bill: no upgrade
        for run in runs:
            faults.reached("before-commit", run.id)
    for fields in billed:
        log.info("billing run completed", **fields)
    for run_id in outcomes:
        faults.reached("after-commit", run_id)
    return outcomes


def _publish_drafted(session: Session, rows: list[dict[str, Any]], archived: set[uuid.UUID]) -> None:
    """``invoice.drafted`` for each new invoice if someone subscribed: the rows the COPY wrote, rendered as
    ``GET /invoices`` serves them when the outbox is fanned out (``archived``: which of their customers are)."""
    if not outbox.subscribed(session, {row["account_id"] for row in rows}, EventType.INVOICE_DRAFTED):
        return
    for row in rows:
        data = outbox.InvoiceValues(row, row["customer_id"] in archived)
        outbox.publish(session, row["account_id"], EventType.INVOICE_DRAFTED, data, row["id"])


def _over_existing(
    session: Session, run_id: uuid.UUID, invoice: Invoice, pre: Prefetched, clock: dt.datetime, trigger: str
) -> run_repo.Completion:
    """A re-executed run that finds its date's invoice: a FINAL or SENT one is only linked (the run keeps its
    billing dates and warnings); a live one is recomputed in place, or deleted if it bills nothing any more."""
    if invoice.status not in LIVE_EDITABLE:
        return run_repo.Completion(run_id, invoice.id, clock, trigger, keep_details=True)
    assert invoice.drafting_date is not None
    draft, data = compute_for(session, pre.ctx, invoice.drafting_date, pre)
    faults.reached("computed", run_id)
    invoice.status = InvoiceStatus.DRAFT
    if not apply_draft(session, pre.ctx, invoice, draft, clock, run_id, trigger, data):
        return run_repo.Completion(run_id, None, clock, trigger)
    return run_repo.Completion(
        run_id,
        invoice.id,
        clock,
        trigger,
        invoice.billing_period_start,
        invoice.billing_period_end,
        run_warnings(draft.warnings),
    )
