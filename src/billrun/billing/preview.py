"""What a billing run would bill now (``POST /billing-runs/{id}/invoice-preview``): the run's own calculation,
persisting nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from billrun.billing.errors import Unbillable
from billrun.billing.loading import load_context
from billrun.billing.rating import PermanentRunError, compute_for
from billrun.domain.invoice import InvoiceDraft
from billrun.store.models import BillingRun, BillingSchedule


@dataclass(frozen=True)
class Preview:
    run_id: uuid.UUID
    schedule_id: uuid.UUID
    customer_id: uuid.UUID
    currency: str
    draft: InvoiceDraft
    product_names: dict[str, str]


def preview_run(session: Session, run: BillingRun) -> Preview:
    """Compute ``run``'s invoice as its execution would, then roll ``session`` back: a preview writes nothing
    (loading may cache rows; none of it may outlive the preview)."""
    schedule = session.get(BillingSchedule, run.billing_schedule_id)
    assert schedule is not None
    ctx = load_context(session, schedule)
    try:
        draft, _ = compute_for(session, ctx, run.intended_drafting_date)
    except PermanentRunError as exc:  # a safety bound: the run itself would fail the same way
        raise Unbillable(str(exc)) from exc
    # plain values, read before the rollback expires the rows (reading them after answered 500)
    found = Preview(run.id, schedule.id, schedule.customer_id, ctx.spec.currency, draft, dict(ctx.product_names))
    session.rollback()
    return found
