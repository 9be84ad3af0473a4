"""Time travellers as ``GET /time-travellers/{id}`` serves them (SPEC §7)."""

from __future__ import annotations

from typing import Any

from billrun.store.models import TimeTraveller
from billrun.views.serialize import ident, ts


def traveller_json(t: TimeTraveller) -> dict[str, Any]:
    return {
        "id": str(t.id),
        "sequenceAccountId": str(t.account_id),
        "createdAt": ts(t.created_at),
        "updatedAt": ts(t.updated_at),
        "billingScheduleId": ident(t.billing_schedule_id),
        "frozenTime": ts(t.frozen_time),
        "status": t.status,
        "failedBillingRunIds": t.failed_billing_run_ids,
    }
