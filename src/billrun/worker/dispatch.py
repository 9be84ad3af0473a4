"""The Celery-backed dispatcher that billing enqueues through. Tasks are sent after the caller's commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from billrun.billing.dispatch import set_dispatcher


class CeleryDispatcher:
    def execute_runs(self, run_ids: Sequence[uuid.UUID], manual: bool = False) -> None:
        from billrun.worker.tasks import execute_billing_runs

        if run_ids:
            execute_billing_runs.delay([str(r) for r in run_ids], "MANUAL" if manual else None)

    def advance_traveller(self, traveller_id: uuid.UUID) -> None:
        from billrun.worker.tasks import advance_time_traveller

        advance_time_traveller.delay(str(traveller_id))

    def recalculate_pending(self, delay_seconds: float = 0) -> None:
        from billrun.worker.tasks import recalculate_pending

        recalculate_pending.apply_async(countdown=delay_seconds)


def install() -> None:
    set_dispatcher(CeleryDispatcher())
