"""Billing-run queries: idempotent materialisation, claiming with leases, and discovery (SPEC §6)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg.errors import DeadlockDetected, LockNotAvailable
from sqlalchemy import and_, case, or_, select, text, true, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, defer

from billrun import jsonutil
from billrun.domain.statuses import OUTSTANDING, InvoiceStatus, RunStatus, ScheduleStatus
from billrun.ids import uuid7
from billrun.store.common import one_of
from billrun.store.models import BillingRun, BillingSchedule, Invoice


def run_rows(
    schedule: BillingSchedule,
    runs: Sequence[tuple[dt.date, dt.datetime, dt.date | None, dt.date | None]],
    trigger: str,
) -> list[dict[str, object]]:
    """SCHEDULED run rows for (D, scheduledRunTime, billingStartDate, billingEndDate) tuples."""
    return [
        {
            "id": uuid7(),
            "account_id": schedule.account_id,
            "billing_schedule_id": schedule.id,
            "intended_drafting_date": drafting_date,
            "status": RunStatus.SCHEDULED,
            "trigger": trigger,
            "scheduled_run_time": run_time,
            "billing_start_date": start,
            "billing_end_date": end,
        }
        for drafting_date, run_time, start, end in runs
    ]


def insert_missing_runs(session: Session, batches: Sequence[list[dict[str, object]]]) -> None:
    """One SCHEDULED run per (schedule, drafting date) that has none: ``INSERT ... ON CONFLICT DO NOTHING``,
    so concurrent ticks, manual executions and travellers never create two (SPEC §6.1). One statement for
    any number of schedules: the rows travel as one array per column (a tick plans 100,000 schedules on the
    first of the month; an executemany would bind every value of every row)."""
    rows = [row for batch in batches for row in batch]
    if not rows:
        return
    columns = (
        ("id", "uuid"),
        ("account_id", "uuid"),
        ("billing_schedule_id", "uuid"),
        ("intended_drafting_date", "date"),
        ("status", "text"),
        ("trigger", "text"),
        ("scheduled_run_time", "timestamptz"),
        ("billing_start_date", "date"),
        ("billing_end_date", "date"),
    )
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in columns)
    names = ", ".join(name for name, _ in columns)
    session.execute(
        text(
            f"INSERT INTO billing_runs ({names}, attempts, warnings) "
            f"SELECT {names}, 0, '[]'::jsonb FROM unnest({arrays}) AS v({names}) "
            "ON CONFLICT (billing_schedule_id, intended_drafting_date) DO NOTHING"
        ),
        {name: [row[name] for row in rows] for name, _ in columns},
    )


def _set_per_schedule(session: Session, column: str, sql_type: str, values: dict[uuid.UUID, object]) -> None:
    """One column of many schedules, each its own value, in one statement (an ORM flush sends one UPDATE per
    schedule)."""
    if values:
        session.execute(
            text(
                f"UPDATE billing_schedules AS s SET {column} = v.value "
                f"FROM unnest(CAST(:ids AS uuid[]), CAST(:values AS {sql_type}[])) AS v(id, value) WHERE s.id = v.id"
            ),
            {"ids": list(values), "values": list(values.values())},
        )


def set_next_drafting_dates(session: Session, dates: dict[uuid.UUID, dt.date | None]) -> None:
    _set_per_schedule(session, "next_drafting_date", "date", dict(dates))


def runs_of(session: Session, schedule_id: uuid.UUID, up_to: dt.date | None = None) -> list[BillingRun]:
    stmt = select(BillingRun).where(BillingRun.billing_schedule_id == schedule_id)
    if up_to is not None:
        stmt = stmt.where(BillingRun.intended_drafting_date <= up_to)
    return list(session.execute(stmt.order_by(BillingRun.intended_drafting_date)).scalars())


def lock_run(session: Session, run_id: uuid.UUID) -> BillingRun | None:
    return session.execute(select(BillingRun).where(BillingRun.id == run_id).with_for_update()).scalar()


def _schedule_key(schedule_id: uuid.UUID) -> dict[str, str]:
    return {"key": f"schedule:{schedule_id}"}


def lock_schedule_runs(session: Session, schedule_id: uuid.UUID) -> None:
    """Transaction-scoped advisory lock serialising one schedule's runs and recalculations (SPEC §6.3)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), _schedule_key(schedule_id))


def try_lock_schedule_shared(session: Session, schedule_id: uuid.UUID) -> bool:
    """The same lock, shared and without waiting: False while a run or a recalculation of the schedule holds
    it. Input changes use it so that ingestion never waits for billing."""
    return bool(
        session.execute(
            text("SELECT pg_try_advisory_xact_lock_shared(hashtextextended(:key, 0))"), _schedule_key(schedule_id)
        ).scalar()
    )


#: How long a billing transaction waits for a lock another session holds before giving up (and deferring or
#: retrying the run): a stalled process must never stop everyone else (README "Security").
LOCK_WAIT_SECONDS = 5


def bound_transaction(session: Session, lease_seconds: int) -> None:
    """Make the run's lease mean something in PostgreSQL: this transaction waits at most
    :data:`LOCK_WAIT_SECONDS` for a lock, no statement runs longer than the lease, and if its process stalls
    (SIGSTOP, swap, a partition) between statements for longer than the lease, PostgreSQL ends the session
    and releases its locks: by then the tick has handed the runs to someone else."""
    session.execute(
        text(
            "SELECT set_config('lock_timeout', :wait, true), set_config('statement_timeout', :lease, true), "
            "set_config('idle_in_transaction_session_timeout', :lease, true)"
        ),
        {"wait": f"{LOCK_WAIT_SECONDS}s", "lease": f"{lease_seconds}s"},
    )


def lock_schedules(session: Session, schedule_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """:func:`lock_schedule_runs` for many schedules; returns those now locked. Free locks are taken at once;
    a busy one (an ingestion or recalculation, a few milliseconds) is waited for, in id order, up to
    :data:`LOCK_WAIT_SECONDS`; once one wait times out, the remaining busy schedules are left out without
    waiting: a stalled holder costs the chunk one wait, and its runs go back to the next tick."""
    if not schedule_ids:
        return set()
    locked = set(
        session.execute(
            text(
                "SELECT id FROM (SELECT unnest(CAST(:ids AS uuid[])) AS id ORDER BY 1) AS ordered "
                "WHERE pg_try_advisory_xact_lock(hashtextextended('schedule:' || id::text, 0))"
            ),
            {"ids": sorted(schedule_ids)},
        ).scalars()
    )
    for schedule_id in sorted(set(schedule_ids) - locked):
        try:
            with session.begin_nested():
                lock_schedule_runs(session, schedule_id)
        except OperationalError as exc:
            if not isinstance(exc.orig, LockNotAvailable | DeadlockDetected):
                raise
            break
        locked.add(schedule_id)
    return locked


def unlink_invoice(session: Session, invoice_id: uuid.UUID) -> None:
    """Before an invoice is deleted: its runs stay COMPLETED with no invoice (SPEC §4.14), and no schedule
    names it as its last invoice."""
    session.execute(update(BillingRun).where(BillingRun.invoice_id == invoice_id).values(invoice_id=None))
    session.execute(
        update(BillingSchedule).where(BillingSchedule.last_invoice_id == invoice_id).values(last_invoice_id=None)
    )


def release_runs(session: Session, run_ids: Sequence[uuid.UUID], token: uuid.UUID, now: dt.datetime) -> None:
    """Give back claimed runs that cannot be executed now: SCHEDULED again and due at the next tick."""
    if run_ids:
        session.execute(
            update(BillingRun)
            .where(one_of(BillingRun.id, run_ids), BillingRun.claim_token == token)
            .values(status=RunStatus.SCHEDULED, claim_token=None, lease_expires_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def claim_many(
    session: Session, run_ids: Sequence[uuid.UUID], token: uuid.UUID, now: dt.datetime, lease: dt.timedelta
) -> list[uuid.UUID]:
    """Claim (short transaction) every run of a chunk that is not COMPLETED, DEPRECATED or IN_PROGRESS under a
    live lease, with one token and one lease (SPEC §6.3 step 1). A SCHEDULED run's lease only marks it as
    queued, so it does not stop the claim. Runs IN_PROGRESS under ``token`` itself are claimed again: the same
    task retried after a database blip takes its own runs back at once instead of waiting for their lease."""
    claimed = session.execute(
        update(BillingRun)
        .where(
            one_of(BillingRun.id, run_ids),
            or_(
                BillingRun.status.in_(OUTSTANDING),
                and_(
                    BillingRun.status == RunStatus.IN_PROGRESS,
                    or_(
                        BillingRun.lease_expires_at.is_(None),
                        BillingRun.lease_expires_at <= now,
                        BillingRun.claim_token == token,
                    ),
                ),
            ),
        )
        .values(
            status=RunStatus.IN_PROGRESS,
            attempts=BillingRun.attempts + 1,
            claim_token=token,
            lease_expires_at=now + lease,
            started_at=now,
            updated_at=now,
        )
        .returning(BillingRun.id)
    ).scalars()
    return list(claimed)


def live_invoices(
    session: Session, keys: Sequence[tuple[uuid.UUID, dt.date]]
) -> dict[tuple[uuid.UUID, dt.date], Invoice]:
    """The non-VOIDED invoices of many (schedule, drafting date) pairs, locked, in one query."""
    if not keys:
        return {}
    schedule_ids = {k[0] for k in keys}
    found = session.execute(
        select(Invoice)
        .where(
            one_of(Invoice.billing_schedule_id, schedule_ids),
            one_of(Invoice.drafting_date, {k[1] for k in keys}),
            Invoice.status != InvoiceStatus.VOIDED,
        )
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE: rows referencing them can still be inserted
    ).scalars()
    wanted = set(keys)
    return {
        key: invoice
        for invoice in found
        if invoice.billing_schedule_id is not None
        and invoice.drafting_date is not None
        and (key := (invoice.billing_schedule_id, invoice.drafting_date)) in wanted
    }


def due_schedules(session: Session, today: dt.date, limit: int = 1000) -> list[BillingSchedule]:
    """ACTIVE, unarchived, real-clock schedules whose next drafting date has come (SPEC §6.2)."""
    return list(
        session.execute(
            select(BillingSchedule)
            .where(
                BillingSchedule.status == ScheduleStatus.ACTIVE,
                BillingSchedule.archived_at.is_(None),
                BillingSchedule.time_traveller_id.is_(None),
                BillingSchedule.next_drafting_date <= today,
            )
            .order_by(BillingSchedule.next_drafting_date, BillingSchedule.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )


def claim_due(
    session: Session,
    now: dt.datetime,
    limit: int,
    lease: dt.timedelta,
    schedule_ids: Sequence[uuid.UUID] | None = None,
    *,
    rehand: bool = False,
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(run id, schedule id) of runs due for execution on real-clock schedules: SCHEDULED or FAILED and due
    for retry, not already handed to a worker, or IN_PROGRESS with an expired lease. ``SKIP LOCKED`` lets
    concurrent ticks split the work.

    Claimed runs are marked as handed out until ``now + lease`` (an IN_PROGRESS run whose worker died goes
    back to SCHEDULED), so later ticks do not enqueue them again while they wait in the queue; if the task
    is lost, the mark expires and a later tick hands the run out again. ``schedule_ids`` restricts the claim
    to those schedules' runs. ``rehand``: the broker lost its queue, so runs handed out before this tick
    (marked until before ``now + lease``) are handed out again; those this tick marks are not."""
    not_queued = now + lease if rehand else now
    handed_out = or_(BillingRun.lease_expires_at.is_(None), BillingRun.lease_expires_at < not_queued)
    only = one_of(BillingRun.billing_schedule_id, schedule_ids) if schedule_ids is not None else true()
    chosen = (
        select(BillingRun.id)
        .join(BillingSchedule, BillingSchedule.id == BillingRun.billing_schedule_id)
        .where(
            only,
            BillingSchedule.time_traveller_id.is_(None),
            BillingRun.scheduled_run_time <= now,
            or_(
                and_(BillingRun.status == RunStatus.SCHEDULED, handed_out),
                and_(
                    BillingRun.status == RunStatus.FAILED,
                    BillingRun.next_retry_at.is_not(None),
                    BillingRun.next_retry_at <= now,
                    handed_out,
                ),
                and_(BillingRun.status == RunStatus.IN_PROGRESS, BillingRun.lease_expires_at < now),
            ),
        )
        .order_by(BillingRun.billing_schedule_id, BillingRun.intended_drafting_date)
        .limit(limit)
        .with_for_update(of=BillingRun, skip_locked=True)
    )
    dead = BillingRun.status == RunStatus.IN_PROGRESS  # its worker died: the claim token it held is now void
    # one statement: the rows are locked by the subquery and marked in place (a tick hands out 100,000 runs
    # on the first of the month, and an ORM flush would send one UPDATE per run)
    returned = session.execute(
        update(BillingRun)
        .where(BillingRun.id.in_(chosen.scalar_subquery()))
        .values(
            status=case((dead, RunStatus.SCHEDULED), else_=BillingRun.status),
            claim_token=case((dead, None), else_=BillingRun.claim_token),
            lease_expires_at=now + lease,
            updated_at=now,
        )
        .returning(BillingRun.id, BillingRun.billing_schedule_id, BillingRun.intended_drafting_date)
        .execution_options(synchronize_session=False)
    ).all()
    # RETURNING has no order: chunks keep a schedule's runs together and in date order
    return [(r[0], r[1]) for r in sorted(returned, key=lambda r: (r[1], r[2]))]


def deprecate_runs(session: Session, run_ids: Sequence[uuid.UUID], now: dt.datetime) -> None:
    if run_ids:
        session.execute(
            update(BillingRun)
            .where(one_of(BillingRun.id, run_ids))
            .values(status=RunStatus.DEPRECATED, updated_at=now, next_retry_at=None)
        )


@dataclass(frozen=True)
class Completion:
    """A run's side of step 2 (SPEC §6.3): COMPLETED, linked to its invoice, lease released. A run without an
    invoice, or only linked to one it did not compute (``keep_details``: a FINAL one), keeps its billing dates
    and warnings."""

    run_id: uuid.UUID
    invoice_id: uuid.UUID | None
    completed_at: dt.datetime
    trigger: str
    billing_start_date: dt.date | None = None
    billing_end_date: dt.date | None = None
    warnings: list[dict[str, str]] = field(default_factory=list)
    keep_details: bool = False


def complete_many(session: Session, done: Sequence[Completion], now: dt.datetime) -> None:
    """Mark runs COMPLETED in one statement (an ORM flush sends one UPDATE per run): the only writer of a
    COMPLETED run."""
    if not done:
        return
    session.execute(
        text(
            "UPDATE billing_runs AS r SET status = 'COMPLETED', invoice_id = v.invoice_id, "
            "completed_at = v.completed_at, lease_expires_at = NULL, next_retry_at = NULL, last_error = NULL, "
            "updated_at = :now, trigger = v.trigger, "
            "billing_start_date = CASE WHEN v.keep THEN r.billing_start_date ELSE v.start_date END, "
            "billing_end_date = CASE WHEN v.keep THEN r.billing_end_date ELSE v.end_date END, "
            "warnings = CASE WHEN v.keep THEN r.warnings ELSE v.warnings END "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:invoices AS uuid[]), CAST(:completed AS timestamptz[]), "
            "CAST(:triggers AS text[]), CAST(:starts AS date[]), CAST(:ends AS date[]), "
            "CAST(:warnings AS jsonb[]), CAST(:keep AS boolean[])) "
            "AS v(id, invoice_id, completed_at, trigger, start_date, end_date, warnings, keep) "
            "WHERE r.id = v.id"
        ),
        {
            "now": now,
            "ids": [d.run_id for d in done],
            "invoices": [d.invoice_id for d in done],
            "completed": [d.completed_at for d in done],
            "triggers": [d.trigger for d in done],
            "starts": [d.billing_start_date for d in done],
            "ends": [d.billing_end_date for d in done],
            "warnings": [jsonutil.dumps(d.warnings) for d in done],
            "keep": [d.keep_details or d.invoice_id is None for d in done],
        },
    )


def set_last_invoices(session: Session, last: dict[uuid.UUID, uuid.UUID]) -> None:
    _set_per_schedule(session, "last_invoice_id", "uuid", dict(last))


def asynchronous_commit(session: Session) -> None:
    """This transaction's commit does not wait for the WAL flush: for work that a crash only makes redo."""
    session.execute(text("SET LOCAL synchronous_commit = off"))


def schedules_of_runs(session: Session, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Run id -> its schedule id."""
    rows = session.execute(select(BillingRun.id, BillingRun.billing_schedule_id).where(one_of(BillingRun.id, run_ids)))
    return {row.id: row.billing_schedule_id for row in rows}


def claimed_runs(session: Session, run_ids: Sequence[uuid.UUID], token: uuid.UUID) -> list[Row[Any]]:
    """The runs among ``run_ids`` still IN_PROGRESS under ``token``, locked, in billing order (schedule, date).
    Plain rows: they are read for their keys and written back in one statement (:func:`complete_many`)."""
    rows = session.execute(
        select(
            BillingRun.id,
            BillingRun.billing_schedule_id,
            BillingRun.intended_drafting_date,
            BillingRun.trigger,
            BillingRun.claim_token,
            BillingRun.status,
        )
        .where(one_of(BillingRun.id, run_ids))
        .order_by(BillingRun.billing_schedule_id, BillingRun.intended_drafting_date)
        .with_for_update()
    )
    return [r for r in rows if r.claim_token == token and r.status == RunStatus.IN_PROGRESS]


def schedules_to_bill(session: Session, schedule_ids: Sequence[uuid.UUID]) -> list[BillingSchedule]:
    """The schedules, locked as strongly as billing them needs (``FOR NO KEY UPDATE``: their
    ``lastInvoiceId`` is written at the end). Taking that lock at once, not upgrading the ``KEY SHARE`` that
    inserting their invoices takes, is what keeps a writer queued for the row (a traveller's step, a manual
    trigger) from deadlocking with us; the advisory locks already keep two billing transactions apart."""
    query = (
        select(BillingSchedule)
        .where(one_of(BillingSchedule.id, schedule_ids))
        .options(defer(BillingSchedule.integration_ids))  # JSON that billing never reads
        .order_by(BillingSchedule.id)
        .with_for_update(key_share=True)
    )
    return list(session.execute(query).scalars())
