"""``billrun run``: the manual trigger executed in the calling process, with progress and a summary."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from typing import Any

from sqlalchemy import select

from billrun.billing import triggers
from billrun.billing.chunk import execute_chunk
from billrun.config import get_settings
from billrun.store.db import unit_of_work
from billrun.store.models import BillingSchedule


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = width * done // total if total else width
    return f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} runs"


def run_manual(schedule_id: str | None, date: str | None, progress: bool = True) -> dict[str, Any]:
    as_of = dt.date.fromisoformat(date) if date else None
    if schedule_id:
        schedules = [uuid.UUID(schedule_id)]
    else:
        with unit_of_work() as session:
            schedules = list(
                session.execute(
                    select(BillingSchedule.id)
                    .where(
                        BillingSchedule.status == "ACTIVE",
                        BillingSchedule.time_traveller_id.is_(None),
                        BillingSchedule.archived_at.is_(None),
                    )
                    .order_by(BillingSchedule.id)
                ).scalars()
            )
    run_ids: list[uuid.UUID] = []
    refused: list[str] = []
    exact: set[uuid.UUID] = set()
    for sid in schedules:
        try:
            _, found = triggers.execute_schedule(sid, as_of, queue=False)
        except triggers.ExecutionRefused as exc:
            refused.append(f"{sid}: {exc.message}")
            continue
        run_ids.extend(found)
        exact.update(found[-1:] if found else [])
    for run_id in exact:
        triggers.reopen_completed(run_id)  # the date asked for is re-computed even when done (SPEC §6.4)
    invoices: set[uuid.UUID] = set()
    failures = 0
    done = 0
    size = get_settings().chunk_size
    for start in range(0, len(run_ids), size):
        # the worker's path: one claim and one transaction per chunk, one per run if the chunk fails
        for outcome in execute_chunk(run_ids[start : start + size], trigger="MANUAL"):
            done += 1
            if outcome.status == "FAILED":
                failures += 1
            if outcome.invoice_id:
                invoices.add(outcome.invoice_id)
        if progress:
            sys.stderr.write(_bar(done, len(run_ids)))
            sys.stderr.flush()
    if progress:
        sys.stderr.write("\n")
    return {
        "schedules": len(schedules),
        "runs": len(run_ids),
        "invoices": len(invoices),
        "failures": failures,
        "refused": refused,
    }
