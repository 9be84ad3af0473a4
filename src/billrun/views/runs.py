"""Billing runs as ``GET /billing-runs/{id}`` serves them (SPEC §2.13)."""

from __future__ import annotations

from typing import Any

from billrun.store.models import BillingRun
from billrun.views.serialize import day, ident, ts


def run_json(r: BillingRun) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "createdAt": ts(r.created_at),
        "updatedAt": ts(r.updated_at),
        "status": r.status,
        "billingScheduleId": str(r.billing_schedule_id),
        "scheduledRunTime": ts(r.scheduled_run_time),
        "billingStartDate": day(r.billing_start_date),
        "billingEndDate": day(r.billing_end_date),
        "intendedDraftingDate": day(r.intended_drafting_date),
        "invoiceId": ident(r.invoice_id),
        "trigger": r.trigger,
        "attempts": r.attempts,
        "lastError": r.last_error,
        "nextRetryAt": ts(r.next_retry_at),
        "startedAt": ts(r.started_at),
        "completedAt": ts(r.completed_at),
        "warnings": r.warnings,
    }
