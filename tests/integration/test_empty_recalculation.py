"""One rule when a recalculated DRAFT bills nothing any more (billing.invoicing.apply_draft), checked on both
paths that recalculate: a run's re-execution and a late-event recalculation. An ON_DEMAND day whose only event
is voided leaves its DRAFT with nothing to bill: without MANUAL lines the DRAFT is deleted and its run stays
COMPLETED with no invoice (SPEC §4.4, §4.14); a MANUAL line keeps the invoice, with its engine lines gone."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billrun.billing.execution import execute_run
from billrun.billing.recalculation import recalculate_invoice
from billrun.billing.triggers import reopen_completed
from billrun.store.db import unit_of_work
from billrun.store.models import BillingSchedule, Invoice
from tests.integration.test_exactly_once import invoices, materialize, runs

pytestmark = pytest.mark.integration
ADDRESS = {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"}
DAY_AFTER = dt.date(2024, 1, 11)


def _post(client: TestClient, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    return dict(response.json())


def _on_demand_day(client: TestClient) -> tuple[dict[str, Any], dict[str, Any], uuid.UUID]:
    """A schedule with an ON_DEMAND price and one event on 2024-01-10: its run for 01-11 drafts an invoice.
    Returns (schedule, the event as posted, the run id)."""
    product = _post(client, "/products", {"name": "Calls"})
    metric = _post(
        client,
        "/usage-metrics",
        {
            "name": f"Calls {uuid.uuid4().hex[:8]}",
            "metricType": "SIMPLE",
            "eventType": "call",
            "aggregationType": "COUNT",
        },
    )
    price = _post(
        client,
        "/prices",
        {
            "name": "Calls",
            "productId": product["id"],
            "currency": "GBP",
            "structure": {"pricingType": "LINEAR", "usageMetricId": metric["id"], "pricePerUnit": "2"},
            "billingFrequency": "ON_DEMAND",
            "billingType": "IN_ARREARS",
        },
    )
    customer = _post(client, "/customers", {"legalName": "On Demand Ltd", "address": ADDRESS})
    schedule = _post(
        client,
        "/billing-schedules",
        {
            "customerId": customer["id"],
            "startDate": "2024-01-01",
            "endDate": "2024-01-31",
            "taxRates": [],
            "phases": [{"priceIds": [price["id"]], "startDate": "2024-01-01", "endDate": "2024-01-31"}],
        },
    )
    event = {
        "customerAlias": customer["id"],
        "customerEventId": f"call-{uuid.uuid4().hex[:8]}",
        "eventType": "call",
        "eventTimestamp": "2024-01-10T10:00:00Z",
    }
    _post(client, "/usage-events", event)
    (run_id,) = [r for r in materialize(schedule["id"], DAY_AFTER)]
    assert execute_run(run_id).status == "COMPLETED"
    (invoice,) = invoices(schedule["id"])
    assert invoice.status == "DRAFT" and invoice.net_total == 2
    return schedule, event, run_id


def _void(client: TestClient, event: dict[str, Any]) -> None:
    _post(client, "/usage-events", {**event, "customerAlias": "VOID"})


def _assert_deleted(schedule: dict[str, Any], run_id: uuid.UUID) -> None:
    assert invoices(schedule["id"]) == []
    (run,) = runs(schedule["id"])
    assert run.id == run_id and run.status == "COMPLETED" and run.invoice_id is None
    with unit_of_work() as s:
        row = s.get(BillingSchedule, uuid.UUID(schedule["id"]))
        assert row is not None and row.last_invoice_id is None


def test_a_re_executed_run_that_bills_nothing_deletes_its_draft(app_client: TestClient, account: Any) -> None:
    schedule, event, run_id = _on_demand_day(app_client)
    _void(app_client, event)
    reopen_completed(run_id)
    assert execute_run(run_id, trigger="MANUAL").status == "COMPLETED"
    _assert_deleted(schedule, run_id)


def test_a_late_event_recalculation_that_bills_nothing_deletes_its_draft(app_client: TestClient, account: Any) -> None:
    schedule, event, run_id = _on_demand_day(app_client)
    _void(app_client, event)
    (invoice,) = invoices(schedule["id"])
    with unit_of_work() as s:
        live = s.get(Invoice, invoice.id)
        assert live is not None
        assert recalculate_invoice(s, live) is False
    _assert_deleted(schedule, run_id)


def test_the_synchronous_recalculation_endpoint_says_the_draft_was_deleted(
    app_client: TestClient, account: Any
) -> None:
    schedule, event, run_id = _on_demand_day(app_client)
    _void(app_client, event)
    (invoice,) = invoices(schedule["id"])
    answer = app_client.post(f"/invoices/{invoice.id}/recalculate")
    assert answer.status_code == 200, answer.text
    assert answer.json()["deleted"] is True and answer.json()["id"] == str(invoice.id)
    assert app_client.get(f"/invoices/{invoice.id}").status_code == 404
    _assert_deleted(schedule, run_id)


@pytest.mark.parametrize("path", ["re-execution", "recalculation"])
def test_a_manual_line_keeps_the_invoice_alive_on_both_paths(app_client: TestClient, account: Any, path: str) -> None:
    schedule, event, run_id = _on_demand_day(app_client)
    (invoice,) = invoices(schedule["id"])
    _post(
        app_client,
        f"/invoices/{invoice.id}/line-items",
        {"title": "Setup", "quantity": "1", "rate": "5"},
    )
    _void(app_client, event)
    if path == "re-execution":
        reopen_completed(run_id)
        assert execute_run(run_id, trigger="MANUAL").status == "COMPLETED"
    else:
        with unit_of_work() as s:
            live = s.get(Invoice, invoice.id)
            assert live is not None and recalculate_invoice(s, live) is True
    (kept,) = invoices(schedule["id"])
    assert kept.id == invoice.id and kept.net_total == 5
    lines = app_client.get(f"/invoices/{invoice.id}/line-items").json()["items"]
    assert [(ln["title"], ln["netTotal"]) for ln in lines] == [("Setup", "5.00")]
    (run,) = runs(schedule["id"])
    assert run.invoice_id == invoice.id
