"""A chunk of runs records each run and schedule exactly as one run at a time does (SPEC §6.3 "Chunks"),
against real PostgreSQL: the chunk writes them with one statement per table, the per-run path through the
ORM."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billrun.billing.chunk import execute_chunk
from billrun.billing.execution import execute_run
from billrun.store.db import unit_of_work
from billrun.store.models import BillingSchedule
from tests.integration.conftest import seed_fixed_schedule
from tests.integration.test_exactly_once import invoices, materialize, runs

pytestmark = pytest.mark.integration
MARCH = dt.date(2024, 3, 1)


def _recorded(schedule_id: str) -> tuple[list[tuple[Any, ...]], int]:
    """Per run: what the run row says of its invoice; and which run's invoice is the schedule's last."""
    by_id = {i.id: i for i in invoices(schedule_id)}
    found = [
        (
            r.intended_drafting_date,
            r.status,
            r.trigger,
            r.billing_start_date,
            r.billing_end_date,
            r.warnings,
            r.lease_expires_at,
            r.next_retry_at,
            r.last_error,
            r.completed_at is not None,
            r.attempts,
            by_id[r.invoice_id].billing_period_start if r.invoice_id else None,
            by_id[r.invoice_id].net_total if r.invoice_id else None,
            by_id[r.invoice_id].billing_run_id == r.id if r.invoice_id else None,
        )
        for r in runs(schedule_id)
    ]
    with unit_of_work() as s:
        schedule = s.get(BillingSchedule, uuid.UUID(schedule_id))
        assert schedule is not None
        last = [r.intended_drafting_date for r in runs(schedule_id) if r.invoice_id == schedule.last_invoice_id]
    assert len(last) == 1
    return found, last[0].month


def test_a_chunk_records_runs_and_schedules_like_one_run_at_a_time(app_client: TestClient, account: Any) -> None:
    """Two catch-up runs of one schedule in one chunk, against the same runs of an identical schedule executed
    one by one: the same run rows (COMPLETED, billing dates of their invoice, warnings, lease released), the
    same invoices, and the later invoice as the schedule's last."""
    chunked = seed_fixed_schedule(app_client, amount="70")
    single = seed_fixed_schedule(app_client, amount="70")
    chunk_runs = materialize(chunked["id"], MARCH)
    single_runs = materialize(single["id"], MARCH)
    assert len(chunk_runs) == len(single_runs) == 2

    outcomes = execute_chunk(chunk_runs)
    for run_id in single_runs:
        assert execute_run(run_id).status == "COMPLETED"

    assert [o.status for o in outcomes] == ["COMPLETED", "COMPLETED"]
    chunk_rows, chunk_last = _recorded(chunked["id"])
    single_rows, single_last = _recorded(single["id"])
    assert chunk_rows == single_rows
    assert chunk_last == single_last == 3  # the March run's invoice
    assert [row[3] for row in chunk_rows] == [dt.date(2024, 1, 1), dt.date(2024, 2, 1)]
    assert all(row[1] == "COMPLETED" and row[6] is None and row[9] for row in chunk_rows)
