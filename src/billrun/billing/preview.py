"""What billing would bill now, persisting nothing: a billing run's invoice
(``POST /billing-runs/{id}/invoice-preview``) or a schedule's on any drafting date
(``POST /billing-schedules/{id}/preview``), by the calculation a run makes."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from billrun.billing.clock import schedule_now
from billrun.billing.errors import Refused, Unbillable
from billrun.billing.loading import ScheduleContext, load_context, on_demand_days
from billrun.billing.rating import PermanentRunError, compute_for
from billrun.domain.drafting import next_drafting_date
from billrun.domain.invoice import InvoiceDraft
from billrun.domain.periods import ONE_DAY
from billrun.store.models import BillingRun, BillingSchedule


@dataclass(frozen=True)
class Preview:
    run_id: uuid.UUID | None
    schedule_id: uuid.UUID
    customer_id: uuid.UUID
    currency: str
    draft: InvoiceDraft
    product_names: dict[str, str]


def preview_run(session: Session, run: BillingRun) -> Preview:
    """Compute ``run``'s invoice as its execution would (see :func:`_preview`)."""
    schedule = session.get(BillingSchedule, run.billing_schedule_id)
    assert schedule is not None
    return _preview(session, schedule, load_context(session, schedule), run.intended_drafting_date, run.id)


def preview_schedule(session: Session, schedule: BillingSchedule, date: dt.date | None) -> tuple[dt.date, Preview]:
    """The invoice ``schedule`` would draft on drafting date ``date`` from the data as it is now; its draft is
    empty when nothing is due that day. By default the date is the next one not yet drafted: the schedule's
    planned ``nextDraftingDate``, else (not planned yet) the first on or after its clock's today."""
    ctx = load_context(session, schedule)
    if date is None:
        date = schedule.next_drafting_date
    if date is None:
        today = schedule_now(session, schedule).date()
        date = next_drafting_date(ctx.spec, today - ONE_DAY, on_demand_days(session, ctx, today))
        if date is None:
            raise Refused("the schedule drafts no more invoices", "noDraftingDate", "date")
    return date, _preview(session, schedule, ctx, date, None)


def _preview(
    session: Session, schedule: BillingSchedule, ctx: ScheduleContext, date: dt.date, run_id: uuid.UUID | None
) -> Preview:
    """Compute the invoice of ``date`` as a run would, then roll ``session`` back: a preview writes nothing
    (loading may cache rows; none of it may outlive the preview)."""
    try:
        draft, _ = compute_for(session, ctx, date)
    except PermanentRunError as exc:  # a safety bound: the run itself would fail the same way
        raise Unbillable(str(exc)) from exc
    # plain values, read before the rollback expires the rows (reading them after answered 500)
    found = Preview(run_id, schedule.id, schedule.customer_id, ctx.spec.currency, draft, dict(ctx.product_names))
    session.rollback()
    return found
