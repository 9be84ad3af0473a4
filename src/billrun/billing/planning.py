"""Which billing runs a schedule has, and when (SPEC §4.4, §4.15, §6.1-§6.2)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from billrun.billing.clock import midnight
from billrun.billing.loading import ScheduleContext, load_context, on_demand_days
from billrun.domain import drafting
from billrun.domain.statuses import RunStatus, ScheduleStatus
from billrun.store import runs as run_repo
from billrun.store.models import Account, BillingSchedule


def run_offset(session: Session, schedule: BillingSchedule) -> dt.timedelta:
    """The account's ``billingRunOffset``, read once per session (a tick plans thousands of schedules of
    the same few accounts, and the ORM's identity map holds objects only weakly)."""
    cache: dict[object, dt.timedelta] = session.info.setdefault("billing_run_offsets", {})
    if schedule.account_id not in cache:
        account = session.get(Account, schedule.account_id)
        cache[schedule.account_id] = dt.timedelta(seconds=account.billing_run_offset_seconds if account else 0)
    return cache[schedule.account_id]


def scheduled_run_time(session: Session, schedule: BillingSchedule, drafting_date: dt.date) -> dt.datetime:
    """``D 00:00Z + billingRunOffset`` (SPEC §6.1)."""
    return midnight(drafting_date) + run_offset(session, schedule)


def last_due_date(session: Session, schedule: BillingSchedule, now: dt.datetime) -> dt.date:
    """The latest drafting date whose run time has come at ``now``."""
    return (now - run_offset(session, schedule)).date()


def planned_runs(
    session: Session, ctx: ScheduleContext, up_to: dt.date, since: dt.date | None = None
) -> list[tuple[dt.date, dt.datetime, dt.date | None, dt.date | None]]:
    """(D, scheduledRunTime, billingStartDate, billingEndDate) for every drafting date <= ``up_to`` (and >=
    ``since``, when given)."""
    days = on_demand_days(session, ctx, up_to)
    items = drafting.due_items(ctx.spec, up_to, days)
    result: list[tuple[dt.date, dt.datetime, dt.date | None, dt.date | None]] = []
    wanted = {
        i.drafting_date for i in items if i.drafting_date <= up_to and (since is None or i.drafting_date >= since)
    }
    for drafting_date in sorted(wanted):
        due = [i for i in items if i.drafting_date == drafting_date]
        period = drafting.billing_period(due, drafting_date)
        result.append((drafting_date, scheduled_run_time(session, ctx.row, drafting_date), period.start, period.end))
    return result


def materialize(
    session: Session, schedule: BillingSchedule, up_to: dt.date, trigger: str, ctx: ScheduleContext | None = None
) -> None:
    """Insert the missing runs with D <= ``up_to`` (catch-up of missed and backdated dates) and advance the
    schedule's ``nextDraftingDate`` past them."""
    if schedule.status != ScheduleStatus.ACTIVE:
        return
    ctx = ctx or load_context(session, schedule)
    run_repo.insert_missing_runs(session, [run_repo.run_rows(schedule, planned_runs(session, ctx, up_to), trigger)])
    schedule.next_drafting_date = drafting.next_drafting_date(ctx.spec, up_to)


def materialize_due(
    session: Session,
    schedules: list[BillingSchedule],
    contexts: dict[uuid.UUID, ScheduleContext],
    now: dt.datetime,
    trigger: str,
) -> None:
    """:func:`materialize` for a batch of due schedules with one multi-row insert. Dates before a schedule's
    ``nextDraftingDate`` already have their runs (every writer of that column materialises first), so
    planning starts there: the cost does not grow with a schedule's age."""
    rows = []
    next_dates: dict[uuid.UUID, dt.date | None] = {}
    for schedule in schedules:
        if schedule.status != ScheduleStatus.ACTIVE:
            continue
        up_to = last_due_date(session, schedule, now)
        ctx = contexts[schedule.id]
        rows.append(
            run_repo.run_rows(schedule, planned_runs(session, ctx, up_to, schedule.next_drafting_date), trigger)
        )
        next_dates[schedule.id] = next_date = drafting.next_drafting_date(ctx.spec, up_to)
        set_committed_value(schedule, "next_drafting_date", next_date)  # what the statement below writes
    run_repo.insert_missing_runs(session, rows)
    run_repo.set_next_drafting_dates(session, next_dates)  # one statement, not an ORM flush per schedule


def initial_next_drafting_date(ctx: ScheduleContext) -> dt.date | None:
    return drafting.first_drafting_date(ctx.spec)


def apply_status_transitions(session: Session, schedule: BillingSchedule, now: dt.datetime) -> None:
    """PENDING -> ACTIVE on startDate; ACTIVE -> COMPLETED once the end has passed and every drafting date
    has a finished run (SPEC §4.15)."""
    today = now.date()
    if schedule.status == ScheduleStatus.PENDING and schedule.start_date <= today:
        schedule.status = ScheduleStatus.ACTIVE
    if schedule.status != ScheduleStatus.ACTIVE or schedule.end_date is None or schedule.end_date >= today:
        return
    ctx = load_context(session, schedule)
    expected = {d for d, *_ in planned_runs(session, ctx, today)}
    runs = {r.intended_drafting_date: r for r in run_repo.runs_of(session, schedule.id)}
    if expected <= set(runs) and all(runs[d].status in (RunStatus.COMPLETED, RunStatus.DEPRECATED) for d in expected):
        schedule.status = ScheduleStatus.COMPLETED
