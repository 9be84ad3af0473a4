"""Executing a chunk of billing runs together (SPEC §6.3 "Chunks", DESIGN "Scale").

One short transaction claims the chunk's runs. One transaction then locks their schedules, loads every
schedule (one query per table), finds which metric windows and seat timelines each invoice will read (a
rating-only recording pass, :func:`billrun.domain.invoice.read_inputs`), fetches them with one aggregation
query per metric and one seat query for the whole chunk, computes every invoice, and writes them with one COPY
per table. If that transaction fails, each run is executed again in its own transaction, so a bad run fails
alone.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from typing import Any

import structlog

from billrun.billing import faults
from billrun.billing.clock import real_now
from billrun.billing.execution import Outcome, execute_run, mark_completed, persist_run, run_warnings
from billrun.billing.invoicing import DraftRows, draft_rows, insert_rows, invoice_values
from billrun.billing.loading import load_contexts
from billrun.billing.rating import compute_for, prefetch
from billrun.config import get_settings
from billrun.domain.statuses import ExecutionStatus
from billrun.store import runs as run_repo
from billrun.store import stats
from billrun.store.bulk import copy_mapped
from billrun.store.db import connection_lost, unit_of_work
from billrun.store.models import BillingRun, Invoice

log = structlog.get_logger(__name__)


def execute_chunk(
    run_ids: Sequence[uuid.UUID], trigger: str | None = None, token: uuid.UUID | None = None
) -> list[Outcome]:
    """Execute a chunk of runs exactly once (SPEC §6.3 "Chunks"): one short transaction claims them all, one
    transaction computes and persists them all. If that transaction fails (a safety bound, a bad input, a
    deadlock), the claimed runs are executed again one per transaction, so one bad run never fails the
    others; each keeps its claim token, so nobody else can have taken them in between.

    ``token``: the claim token to use; the same task retried passes the same one, and takes back the runs it
    had claimed before a database blip. A lost connection is raised, for the task to retry in seconds."""
    started = time.perf_counter()
    now = real_now()
    token = token or uuid.uuid4()
    with unit_of_work() as session:
        claimed = run_repo.claim_many(session, run_ids, token, now, dt.timedelta(seconds=get_settings().lease_seconds))
    outcomes = {run_id: Outcome(run_id, ExecutionStatus.SKIPPED) for run_id in run_ids}
    if claimed:
        try:
            outcomes.update(_persist_together(claimed, token, trigger))
        except Exception as exc:
            if connection_lost(exc):
                raise
            log.warning(
                "chunk failed as one transaction; executing its runs one by one", size=len(claimed), error=str(exc)
            )
            for run_id in claimed:
                outcomes[run_id] = execute_run(run_id, trigger=trigger, claimed_token=token)
    if any(o.invoice_id for o in outcomes.values()):
        try:
            stats.analyze_if_unanalysed(["invoices"])  # before the next chunk's foreign-key checks
        except Exception as exc:  # statistics are an optimisation: the chunk is committed whatever happens
            log.warning("could not analyse invoices", error=str(exc))
    statuses = [o.status for o in outcomes.values()]
    log.info(
        "billing chunk executed",
        chunk_size=len(run_ids),
        completed=statuses.count(ExecutionStatus.COMPLETED),
        failed=statuses.count(ExecutionStatus.FAILED),
        skipped=statuses.count(ExecutionStatus.SKIPPED),
        deferred=statuses.count(ExecutionStatus.DEFERRED),
        trigger=trigger,
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return [outcomes[run_id] for run_id in run_ids]


def _persist_together(run_ids: Sequence[uuid.UUID], token: uuid.UUID, trigger: str | None) -> dict[uuid.UUID, Outcome]:
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
        run_ids = [run_id for run_id in run_ids if schedule_of.get(run_id) in locked]
        runs = run_repo.claimed_runs(session, run_ids, token)
        schedules = run_repo.schedules_to_bill(session, sorted(locked))
        contexts = load_contexts(session, schedules)
        inputs = prefetch(session, [(r.billing_schedule_id, r.intended_drafting_date) for r in runs], contexts)
        live = run_repo.live_invoices(session, [(r.billing_schedule_id, r.intended_drafting_date) for r in runs])
        new_invoices: list[dict[str, Any]] = []
        written: list[DraftRows] = []
        done: list[run_repo.Completion] = []
        last_invoice: dict[uuid.UUID, uuid.UUID] = {}
        for run in runs:
            clock = real_now()
            used_trigger = trigger or run.trigger
            existing = live.get((run.billing_schedule_id, run.intended_drafting_date))
            if existing is not None:
                # a re-execution over an existing invoice: the per-run rules, inside this transaction
                run_row = session.get(BillingRun, run.id)
                assert run_row is not None
                invoice_id = persist_run(session, run_row, clock, used_trigger, inputs[run.billing_schedule_id])
                mark_completed(run_row, invoice_id, clock, used_trigger)
                if invoice_id is not None:
                    last_invoice[run.billing_schedule_id] = invoice_id
            else:
                pre = inputs[run.billing_schedule_id]
                draft, data = compute_for(session, pre.ctx, run.intended_drafting_date, pre)
                faults.reached("computed", run.id)
                invoice_id = None
                if draft.is_empty:
                    done.append(run_repo.Completion(run.id, None, clock, used_trigger))
                else:
                    values = invoice_values(pre.ctx, run.intended_drafting_date, clock)
                    invoice_id = values["id"]
                    rows = draft_rows(pre.ctx, invoice_id, values["currency"], draft, clock, run.id, used_trigger, data)
                    new_invoices.append({**values, **rows.totals})
                    written.append(rows)
                    last_invoice[run.billing_schedule_id] = invoice_id
                    done.append(
                        run_repo.Completion(
                            run.id,
                            invoice_id,
                            clock,
                            used_trigger,
                            rows.totals["billing_period_start"],
                            rows.totals["billing_period_end"],
                            run_warnings(draft.warnings),
                        )
                    )
            outcomes[run.id] = Outcome(run.id, ExecutionStatus.COMPLETED, invoice_id)
            billed.append(
                {
                    "run_id": str(run.id),
                    "schedule_id": str(run.billing_schedule_id),
                    "account_id": str(inputs[run.billing_schedule_id].ctx.row.account_id),
                    "drafting_date": run.intended_drafting_date.isoformat(),
                    "invoice_id": str(invoice_id) if invoice_id else None,
                    "trigger": used_trigger,
                }
            )
        if new_invoices:
            copy_mapped(session, Invoice, new_invoices)
            insert_rows(session, written)
        session.flush()  # the per-run path's changes first, so that the statements below have the last word
        run_repo.complete_many(session, done, real_now())
        run_repo.set_last_invoices(session, last_invoice)
        for run_id in run_ids:
            faults.reached("before-commit", run_id)
    for fields in billed:
        log.info("billing run completed", **fields)
    for run_id in outcomes:
        faults.reached("after-commit", run_id)
    return outcomes
