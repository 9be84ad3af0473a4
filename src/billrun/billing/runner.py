"""``billrun run``: the manual trigger executed in the calling process, reporting progress to the caller and
returning a summary."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from billrun.billing import triggers
from billrun.billing.chunk import execute_chunk
from billrun.billing.errors import Refused
from billrun.config import get_settings
from billrun.domain.statuses import ExecutionStatus, Trigger
from billrun.store import schedules as schedule_repo
from billrun.store.db import unit_of_work


def run_manual(
    schedule_id: uuid.UUID | None,
    as_of: dt.date | None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Bill one schedule (a refusal, e.g. an unknown id or a date after the schedule's today, raises
    :class:`~billrun.billing.errors.Refused`) or every active schedule (refusals are listed in the summary)."""
    planned: list[list[uuid.UUID]] = []
    refused: list[str] = []
    if schedule_id:
        schedules = [schedule_id]
        planned.append(triggers.execute_schedule(schedule_id, as_of, queue=False)[1])
    else:
        schedules = _active_schedules()
        for sid in schedules:
            try:
                planned.append(triggers.execute_schedule(sid, as_of, queue=False)[1])
            except Refused as exc:
                refused.append(f"{sid}: {exc}")
    for found in planned:
        # the date asked for is re-computed even when done (SPEC §6.4): the last run of each schedule
        triggers.reopen_completed(found[-1] if found else None)
    run_ids = [run_id for found in planned for run_id in found]
    invoices: set[uuid.UUID] = set()
    failures = deferred = 0
    done = 0
    size = get_settings().chunk_size
    for start in range(0, len(run_ids), size):
        # the worker's path: one claim and one transaction per chunk, one per run if the chunk fails
        for outcome in execute_chunk(run_ids[start : start + size], trigger=Trigger.MANUAL):
            done += 1
            if outcome.status == ExecutionStatus.FAILED:
                failures += 1
            if outcome.status == ExecutionStatus.DEFERRED:  # its schedule was busy: the beat's next tick takes it
                deferred += 1
            if outcome.invoice_id:
                invoices.add(outcome.invoice_id)
        if progress is not None:
            progress(done, len(run_ids))  # runs done, runs planned
    return {
        "schedules": len(schedules),
        "runs": len(run_ids),
        "invoices": len(invoices),
        "failures": failures,
        "deferred": deferred,
        "refused": refused,
    }


def _active_schedules() -> list[uuid.UUID]:
    with unit_of_work() as session:
        return schedule_repo.active_real_clock(session)
