"""Late events and failure reporting against real PostgreSQL, Redis and ``billrun worker`` processes
(SPEC §5.7, §6.6): an event that arrives while its run is computing still ends up on the invoice; events for
finalized invoices and failed runs are counted in the exported metrics."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from billrun import metrics
from billrun.billing.dispatch import dispatcher
from billrun.billing.execution import execute_run
from billrun.store.db import unit_of_work
from billrun.store.models import BillingRun, Invoice, ScheduleRecalculationRequest
from tests.integration.conftest import WorkerProcess, wait_for
from tests.integration.test_exactly_once import FEB, invoices, materialize, runs

pytestmark = pytest.mark.integration
ADDRESS = {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"}


def _post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def seed_usage_schedule(client: TestClient, extra_prices: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """A January-only schedule billing SUM(units) at £1 per unit in arrears, plus ``extra_prices`` FIXED £1
    prices in the same phase. Returns (schedule, customer)."""
    product = _post(client, "/products", {"name": "Units"})
    metric = _post(
        client,
        "/usage-metrics",
        {
            "name": f"Units {uuid.uuid4().hex[:8]}",  # names are unique per account
            "metricType": "SIMPLE",
            "eventType": "usage",
            "aggregationType": "SUM",
            "unit": "units",
            "aggregationProperty": "units",
        },
    )
    usage_price = _post(
        client,
        "/prices",
        {
            "name": "Units",
            "productId": product["id"],
            "currency": "GBP",
            "structure": {"pricingType": "LINEAR", "usageMetricId": metric["id"], "pricePerUnit": "1"},
            "billingFrequency": "MONTHLY",
            "billingType": "IN_ARREARS",
        },
    )
    fixed = [
        _post(
            client,
            "/prices",
            {
                "name": f"Fixed {i}",
                "productId": product["id"],
                "currency": "GBP",
                "structure": {"pricingType": "FIXED", "price": "1"},
                "billingFrequency": "MONTHLY",
                "billingType": "IN_ARREARS",
            },
        )
        for i in range(extra_prices)
    ]
    customer = _post(client, "/customers", {"legalName": "Late Ltd", "address": ADDRESS})
    price_ids = [usage_price["id"], *(p["id"] for p in fixed)]
    schedule = _post(
        client,
        "/billing-schedules",
        {
            "customerId": customer["id"],
            "startDate": "2024-01-01",
            "endDate": "2024-01-31",
            "taxRates": [],
            "phases": [{"priceIds": price_ids, "startDate": "2024-01-01", "endDate": "2024-01-31"}],
        },
    )
    return schedule, customer


def _units(client: TestClient, customer: dict[str, Any], stamp: str, units: int) -> None:
    _post(
        client,
        "/usage-events",
        {
            "customerAlias": customer["id"],
            "eventType": "usage",
            "eventTimestamp": stamp,
            "eventProperties": {"units": units},
        },
    )


def test_event_arriving_while_its_run_computes_reaches_the_invoice(
    app_client: TestClient, account: Any, tmp_path: Path, worker_factory: Callable[..., WorkerProcess]
) -> None:
    """The run has read its events and holds the schedule lock when a January event arrives: ingestion does
    not wait for it, the request waits for the run to commit, then the DRAFT is recalculated in place."""
    schedule, customer = seed_usage_schedule(app_client)
    _units(app_client, customer, "2024-01-10T12:00:00Z", 100)
    (run_id,) = materialize(schedule["id"], FEB)
    paused, resume = tmp_path / "paused", tmp_path / "resume"
    worker_factory(
        "paused",
        {
            "BILLRUN_TEST_PAUSE_AT": "computed",
            "BILLRUN_TEST_PAUSE_FILE": str(paused),
            "BILLRUN_TEST_RESUME_FILE": str(resume),
            "BILLRUN_RECALC_DEBOUNCE_SECONDS": "0.5",
        },
    )
    dispatcher().execute_runs([run_id])
    wait_for(paused.exists)

    started = time.monotonic()
    _units(app_client, customer, "2024-01-20T08:00:00Z", 25)
    assert time.monotonic() - started < 5, "ingestion must not wait for the run's transaction"
    with unit_of_work() as s:
        assert s.get(ScheduleRecalculationRequest, uuid.UUID(schedule["id"])) is not None
    assert invoices(schedule["id"]) == []

    resume.write_text("go")
    wait_for(lambda: [r.status for r in runs(schedule["id"])] == ["COMPLETED"])
    wait_for(lambda: [i.net_total for i in invoices(schedule["id"])] == [125], timeout=60)
    (invoice,) = invoices(schedule["id"])
    (run,) = runs(schedule["id"])
    assert invoice.billing_run_id == run.id and invoice.status == "DRAFT"
    with unit_of_work() as s:
        assert s.get(ScheduleRecalculationRequest, uuid.UUID(schedule["id"])) is None


def _metric(client: TestClient, name: str) -> int:
    response = client.get("/metrics", auth=None, headers={"Authorization": ""})
    assert response.status_code == 200
    for line in response.text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError(f"{name} not exported")


@pytest.fixture
def root_client(app_client: TestClient) -> TestClient:
    """The same server, outside ``/api``, where the scrape target lives."""
    return TestClient(app_client.app, base_url="http://testserver")


def test_late_event_for_a_final_invoice_is_counted_not_applied(
    app_client: TestClient, account: Any, root_client: TestClient
) -> None:
    schedule, customer = seed_usage_schedule(app_client)
    _units(app_client, customer, "2024-01-10T12:00:00Z", 100)
    (run_id,) = materialize(schedule["id"], FEB)
    assert execute_run(run_id).status == "COMPLETED"
    (invoice,) = invoices(schedule["id"])
    response = app_client.post(f"/invoices/{invoice.id}/finalize")
    assert response.status_code == 200, response.text
    before = _metric(root_client, "late_events_for_final_invoices_total")

    _units(app_client, customer, "2024-01-15T00:00:00Z", 7)
    _units(app_client, customer, "2024-02-15T00:00:00Z", 7)  # after the finalized period: not late

    assert _metric(root_client, "late_events_for_final_invoices_total") == before + 1
    (after,) = invoices(schedule["id"])
    assert (after.status, after.net_total, after.calculated_at) == ("FINAL", 100, invoice.calculated_at)


def test_a_failed_run_is_logged_counted_and_listed(
    app_client: TestClient, account: Any, root_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """An invoice over the 1,000-line safety bound fails permanently: nothing persisted, FAILED with lastError
    and no retry, an ERROR log naming run, schedule and date, the counter, and the FAILED listing."""
    schedule, _ = seed_usage_schedule(app_client, extra_prices=1000)  # 1,000 fixed lines + 1 usage line
    (run_id,) = materialize(schedule["id"], FEB)
    before = _metric(root_client, "billrun_billing_runs_failed_total")

    with caplog.at_level(logging.ERROR, logger="billrun.billing.execution"):
        assert execute_run(run_id).status == "FAILED"

    (run,) = runs(schedule["id"])
    assert run.status == "FAILED" and run.next_retry_at is None and run.invoice_id is None
    assert run.last_error is not None and run.last_error["type"] == "permanent"
    assert "1,000" in run.last_error["message"] or "1000" in run.last_error["message"]
    assert invoices(schedule["id"]) == []
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(str(run_id) in m and schedule["id"] in m and "2024-02-01" in m for m in logged), logged
    assert _metric(root_client, "billrun_billing_runs_failed_total") == before + 1
    assert metrics.counter("billrun_billing_runs_failed_total") == before + 1
    listed = app_client.get("/billing-runs?status=FAILED&limit=100").json()["items"]
    assert str(run_id) in [item["id"] for item in listed]
    with unit_of_work() as s:
        assert s.execute(select(Invoice).where(Invoice.billing_run_id == run_id)).first() is None
        assert s.get(BillingRun, run_id) is not None


def test_a_bad_run_fails_alone_in_its_chunk(app_client: TestClient, account: Any) -> None:
    """A chunk is persisted in one transaction; when one of its runs breaks the safety bound, the chunk falls
    back to one transaction per run (SPEC §6.3 "Chunks"): the good runs complete with their invoices, the
    bad one is FAILED, and nothing of it is stored."""
    from billrun.billing.chunk import execute_chunk

    good, good_customer = seed_usage_schedule(app_client)
    _units(app_client, good_customer, "2024-01-03T00:00:00Z", 9)
    bad, _ = seed_usage_schedule(app_client, extra_prices=1000)
    other, _ = seed_usage_schedule(app_client)
    (good_run,) = materialize(good["id"], FEB)
    (bad_run,) = materialize(bad["id"], FEB)
    (other_run,) = materialize(other["id"], FEB)

    outcomes = execute_chunk([good_run, bad_run, other_run])

    assert [o.status for o in outcomes] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert [i.net_total for i in invoices(good["id"])] == [9]
    assert invoices(bad["id"]) == []
    assert [r.status for r in runs(bad["id"])] == ["FAILED"]
    (other_invoice,) = invoices(other["id"])
    assert other_invoice.net_total == 0 and other_invoice.billing_run_id == other_run
    # the two good runs were claimed once, by the chunk, and kept that claim through the fallback
    assert [r.attempts for r in runs(good["id"]) + runs(other["id"])] == [1, 1]


def test_billrun_run_command_bills_and_re_executes_in_place(app_client: TestClient, account: Any) -> None:
    """``billrun run --schedule ID --date D`` (the manual trigger in the calling process): a progress bar on
    stderr, a JSON summary on stdout, and a second execution recalculates the same DRAFT in place."""
    import json
    import os
    import subprocess
    import sys

    schedule, customer = seed_usage_schedule(app_client)
    _units(app_client, customer, "2024-01-10T00:00:00Z", 4)

    def run() -> tuple[dict[str, Any], str]:
        done = subprocess.run(
            [sys.executable, "-m", "billrun.cli", "run", "--schedule", schedule["id"], "--date", "2024-02-01"],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=120,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr

    summary, progress = run()
    assert summary == {"schedules": 1, "runs": 1, "invoices": 1, "failures": 0, "deferred": 0, "refused": []}
    assert "1/1 runs" in progress
    (first,) = invoices(schedule["id"])
    assert first.net_total == 4 and first.status == "DRAFT"

    _units(app_client, customer, "2024-01-11T00:00:00Z", 3)
    summary, _ = run()
    assert summary["invoices"] == 1 and summary["failures"] == 0
    (again,) = invoices(schedule["id"])
    assert (again.id, again.net_total) == (first.id, 7)
    assert again.calculated_at is not None and first.calculated_at is not None
    assert again.calculated_at > first.calculated_at
