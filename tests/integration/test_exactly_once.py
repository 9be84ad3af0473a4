"""SPEC §6.5, row by row, against real PostgreSQL, Redis and Celery worker processes: always exactly one
invoice per (schedule, drafting date), and the same invoice id for everyone."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from billrun.billing import triggers
from billrun.billing.dispatch import dispatcher
from billrun.billing.execution import execute_run
from billrun.store.db import unit_of_work
from billrun.store.models import BillingRun, Invoice, InvoiceLineItem
from tests.integration.conftest import WorkerProcess, seed_fixed_schedule, wait_for

pytestmark = pytest.mark.integration
FEB = dt.date(2024, 2, 1)


@pytest.fixture(autouse=True)
def only_this_tests_schedules(database_url: str) -> None:
    """The tick bills every real-clock schedule in the database; retire those of earlier tests."""
    from sqlalchemy import update

    from billrun.store.models import BillingSchedule

    with unit_of_work() as s:
        s.execute(
            update(BillingSchedule).where(BillingSchedule.status.in_(["ACTIVE", "PENDING"])).values(status="CANCELLED")
        )
        s.execute(
            update(BillingRun)
            .where(BillingRun.status.in_(["SCHEDULED", "FAILED", "IN_PROGRESS"]))
            .values(status="DEPRECATED")
        )


def runs(schedule_id: str) -> list[BillingRun]:
    with unit_of_work() as s:
        return list(
            s.execute(
                select(BillingRun)
                .where(BillingRun.billing_schedule_id == uuid.UUID(schedule_id))
                .order_by(BillingRun.intended_drafting_date)
            ).scalars()
        )


def invoices(schedule_id: str) -> list[Invoice]:
    with unit_of_work() as s:
        return list(
            s.execute(
                select(Invoice)
                .where(Invoice.billing_schedule_id == uuid.UUID(schedule_id))
                .order_by(Invoice.drafting_date, Invoice.created_at)
            ).scalars()
        )


def all_completed(schedule_id: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        found = runs(schedule_id)
        return len(found) == count and all(r.status == "COMPLETED" for r in found)

    return check


def materialize(schedule_id: str, as_of: dt.date) -> list[uuid.UUID]:
    """Create the runs up to ``as_of`` without enqueueing anything."""
    _, run_ids = triggers.execute_schedule(uuid.UUID(schedule_id), as_of, queue=False)
    return run_ids


def test_beat_tick_catches_up_a_backdated_schedule_once(
    app_client: TestClient, account: Any, worker_factory: Callable[..., WorkerProcess]
) -> None:
    """E28 with the real-clock tick: one tick creates and enqueues every past run; a second creates nothing."""
    schedule = seed_fixed_schedule(app_client)
    worker_factory()
    with time_machine.travel(dt.datetime(2024, 4, 10, 9, tzinfo=dt.UTC), tick=False):
        triggers.tick()
        first = [(r.intended_drafting_date, r.id) for r in runs(schedule["id"])]
        assert [d for d, _ in first] == [dt.date(2024, 2, 1), dt.date(2024, 3, 1), dt.date(2024, 4, 1)]
        wait_for(all_completed(schedule["id"], 3))
        triggers.tick()
        assert [(r.intended_drafting_date, r.id) for r in runs(schedule["id"])] == first
    found = invoices(schedule["id"])
    assert [(i.billing_period_start, i.net_total, i.status) for i in found] == [
        (dt.date(2024, 1, 1), 100, "DRAFT"),
        (dt.date(2024, 2, 1), 100, "DRAFT"),
        (dt.date(2024, 3, 1), 100, "DRAFT"),
    ]
    assert all(i.billing_run_id is not None for i in found)
    from billrun.store.models import BillingSchedule

    with unit_of_work() as s:
        assert s.get(BillingSchedule, uuid.UUID(schedule["id"])).next_drafting_date == dt.date(2024, 5, 1)


def test_same_run_executed_twice_in_sequence(
    app_client: TestClient, account: Any, worker_factory: Callable[..., WorkerProcess]
) -> None:
    schedule = seed_fixed_schedule(app_client)
    (run_id,) = materialize(schedule["id"], FEB)
    worker = worker_factory()
    dispatcher().execute_runs([run_id])
    wait_for(all_completed(schedule["id"], 1))
    first = invoices(schedule["id"])
    dispatcher().execute_runs([run_id])
    dispatcher().execute_runs([run_id])
    wait_for(lambda: worker.received() >= 3)
    wait_for(lambda: "succeeded" in worker.log_path.read_text() and worker.log_path.read_text().count("succeeded") >= 3)
    (again,) = runs(schedule["id"])
    assert again.attempts == 1, "the redelivered executions saw COMPLETED and did nothing"
    assert [(i.id, i.calculated_at) for i in invoices(schedule["id"])] == [(i.id, i.calculated_at) for i in first]


def test_n_concurrent_executions_of_one_run(
    app_client: TestClient, account: Any, worker_factory: Callable[..., WorkerProcess]
) -> None:
    schedule = seed_fixed_schedule(app_client)
    (run_id,) = materialize(schedule["id"], FEB)
    worker_factory("a", concurrency=3)
    worker_factory("b", concurrency=3)
    for _ in range(6):
        dispatcher().execute_runs([run_id])
    outcomes: list[Any] = []
    threads = [threading.Thread(target=lambda: outcomes.append(execute_run(run_id))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_for(all_completed(schedule["id"], 1))
    found = invoices(schedule["id"])
    assert len(found) == 1
    (run,) = runs(schedule["id"])
    assert run.invoice_id == found[0].id and found[0].billing_run_id == run.id
    assert {o.invoice_id for o in outcomes if o.status == "COMPLETED"} <= {found[0].id}
    with unit_of_work() as s:
        lines = s.execute(select(func.count()).where(InvoiceLineItem.invoice_id == found[0].id)).scalar_one()
    assert lines == 1


def test_crash_after_compute_before_commit(
    app_client: TestClient,
    account: Any,
    tmp_path: Path,
    worker_factory: Callable[..., WorkerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGKILL between compute and commit: nothing persisted; once the lease expires the tick re-claims the
    run and the retry yields exactly the invoice of an uninterrupted run."""
    schedule = seed_fixed_schedule(app_client, end="2024-01-31")  # one drafting date, whatever the real clock
    (run_id,) = materialize(schedule["id"], FEB)
    marker = tmp_path / "paused"
    crashing = worker_factory(
        "crashing",
        {"BILLRUN_TEST_PAUSE_AT": "computed", "BILLRUN_TEST_PAUSE_FILE": str(marker), "BILLRUN_LEASE_SECONDS": "10"},
    )
    dispatcher().execute_runs([run_id])
    wait_for(marker.exists)
    crashing.kill()
    (run,) = runs(schedule["id"])
    assert run.status == "IN_PROGRESS" and run.invoice_id is None
    assert invoices(schedule["id"]) == []
    assert run.lease_expires_at is not None
    monkeypatch.setenv("BILLRUN_LEASE_SECONDS", "10")
    worker_factory("recovering")
    wait_for(lambda: dt.datetime.now(dt.UTC) > run.lease_expires_at, timeout=30)  # type: ignore[operator]
    triggers.tick()
    wait_for(all_completed(schedule["id"], 1))
    (retried,) = runs(schedule["id"])
    assert retried.attempts == 2
    (invoice,) = invoices(schedule["id"])
    assert (invoice.net_total, invoice.total_tax, invoice.gross_total) == (100, 0, 100)
    assert invoice.billing_run_id == retried.id and retried.invoice_id == invoice.id


def test_crash_after_commit_before_ack(
    app_client: TestClient, account: Any, tmp_path: Path, worker_factory: Callable[..., WorkerProcess]
) -> None:
    """SIGKILL after commit, before the ack: Redis redelivers the task and it finds the run COMPLETED."""
    schedule = seed_fixed_schedule(app_client)
    (run_id,) = materialize(schedule["id"], FEB)
    marker = tmp_path / "paused"
    env = {"BILLRUN_VISIBILITY_TIMEOUT_SECONDS": "2"}
    crashing = worker_factory(
        "crashing", {**env, "BILLRUN_TEST_PAUSE_AT": "after-commit", "BILLRUN_TEST_PAUSE_FILE": str(marker)}
    )
    dispatcher().execute_runs([run_id])
    wait_for(marker.exists)
    crashing.kill()
    (run,) = runs(schedule["id"])
    assert run.status == "COMPLETED"
    (invoice,) = invoices(schedule["id"])
    redelivered = worker_factory("redelivered", env)
    wait_for(lambda: redelivered.received() >= 1, timeout=60)
    wait_for(lambda: "succeeded" in redelivered.log_path.read_text(), timeout=60)
    (after,) = runs(schedule["id"])
    assert after.attempts == 1
    (same,) = invoices(schedule["id"])
    assert (same.id, same.calculated_at) == (invoice.id, invoice.calculated_at)


def test_two_beats_at_once_and_a_missed_tick(
    app_client: TestClient, account: Any, worker_factory: Callable[..., WorkerProcess]
) -> None:
    schedule = seed_fixed_schedule(app_client)
    worker_factory()
    with time_machine.travel(dt.datetime(2024, 3, 2, tzinfo=dt.UTC), tick=False):
        threads = [threading.Thread(target=triggers.tick) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_for(all_completed(schedule["id"], 2))
    with time_machine.travel(dt.datetime(2024, 6, 15, tzinfo=dt.UTC), tick=False):  # ticks of 3 months missed
        triggers.tick()
        triggers.tick()
        wait_for(all_completed(schedule["id"], 5))
    found = invoices(schedule["id"])
    assert [i.drafting_date for i in found] == [dt.date(2024, m, 1) for m in range(2, 7)]


@pytest.mark.parametrize("manual_first", [True, False])
def test_manual_and_beat_in_either_order(
    app_client: TestClient, account: Any, manual_first: bool, worker_factory: Callable[..., WorkerProcess]
) -> None:
    schedule = seed_fixed_schedule(app_client)
    worker_factory()

    def beat() -> None:
        with time_machine.travel(dt.datetime(2024, 2, 1, 0, 5, tzinfo=dt.UTC), tick=False):
            triggers.tick()

    def manual() -> None:
        response = app_client.post(f"/billing/execution/billing-schedules/{schedule['id']}/for-date/2024-02-01")
        assert response.status_code == 202, response.text

    first, second = (manual, beat) if manual_first else (beat, manual)
    first()
    wait_for(all_completed(schedule["id"], 1))
    (invoice,) = invoices(schedule["id"])
    second()
    wait_for(all_completed(schedule["id"], 1))
    if not manual_first:  # the later manual execution recalculates the DRAFT in place
        wait_for(lambda: invoices(schedule["id"])[0].calculated_at != invoice.calculated_at)
    (after,) = invoices(schedule["id"])
    assert after.id == invoice.id and after.status == "DRAFT"
    (run,) = runs(schedule["id"])
    assert run.invoice_id == invoice.id


def test_finalized_invoice_is_left_alone_and_void_is_replaced(
    app_client: TestClient, account: Any, worker_factory: Callable[..., WorkerProcess]
) -> None:
    schedule = seed_fixed_schedule(app_client)
    worker_factory()
    path = f"/billing/execution/billing-schedules/{schedule['id']}/for-date/2024-02-01"
    app_client.post(path)
    wait_for(all_completed(schedule["id"], 1))
    (invoice,) = invoices(schedule["id"])
    assert app_client.post(f"/invoices/{invoice.id}/finalize").json()["invoiceNumber"] == "INV-000001"
    app_client.post(path)
    wait_for(all_completed(schedule["id"], 1))
    (final,) = invoices(schedule["id"])
    assert (final.status, final.calculated_at) == ("FINAL", invoice.calculated_at)
    assert app_client.post(f"/invoices/{invoice.id}/void").status_code == 200
    app_client.post(path)
    wait_for(lambda: len(invoices(schedule["id"])) == 2)
    statuses = sorted(i.status for i in invoices(schedule["id"]))
    assert statuses == ["DRAFT", "VOIDED"]


def test_a_tick_hands_each_run_out_once(app_client: TestClient, account: Any, servers: dict[str, str]) -> None:
    """Runs waiting in the queue are not enqueued again by the next tick (only after their lease expires)."""
    import redis

    from billrun.worker.app import make_celery

    make_celery().control.purge()
    broker = redis.Redis.from_url(servers["broker_url"])
    seed_fixed_schedule(app_client)
    with time_machine.travel(dt.datetime(2024, 4, 10, 9, tzinfo=dt.UTC), tick=False):
        first = triggers.tick()
        queued = broker.llen("celery")
        second = triggers.tick()
        assert (first.claimed, second.claimed) == (3, 0)
        assert broker.llen("celery") == queued == 1  # one chunk task holding the three runs
    with time_machine.travel(dt.datetime(2024, 4, 10, 9, 30, tzinfo=dt.UTC), tick=False):
        assert triggers.tick().claimed == 3, "a lost task's runs are handed out again once the lease expired"
