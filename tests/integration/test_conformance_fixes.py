"""Server errors found by checking billrun against Sequence's published OpenAPI, each pinned by the test that
failed before its fix."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from billrun.store.db import unit_of_work
from billrun.store.models import SeatEvent, UsageEvent
from tests.integration.conftest import seed_fixed_schedule
from tests.integration.test_exactly_once import FEB, materialize

pytestmark = pytest.mark.integration


def test_an_invoice_preview_of_a_run_is_served(app_client: TestClient, account: Any) -> None:
    """It used to answer 500 (the run was read after its session had been rolled back)."""
    schedule = seed_fixed_schedule(app_client, end="2024-01-31")
    (run_id,) = materialize(schedule["id"], FEB)
    preview = app_client.post(f"/billing-runs/{run_id}/invoice-preview")
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert "id" not in body and body["billingRunId"] == str(run_id)
    assert body["billingScheduleId"] == schedule["id"] and body["netTotal"] == "100.00"
    assert app_client.get(f"/invoices?billingScheduleId={schedule['id']}").json()["items"] == []


@pytest.mark.parametrize(
    ("path", "field", "value"), [("/usage-events", "eventType", "e"), ("/seat-events", "seatType", "editor")]
)
def test_re_posting_a_server_generated_event_id_supersedes_that_event(
    app_client: TestClient, account: Any, path: str, field: str, value: str
) -> None:
    """An event posted without ``customerEventId`` gets one from the server; posting again with that id used
    to answer 500 (two latest rows for one id). Like any id, the last received wins."""
    first: dict[str, Any] = {"customerAlias": "c1", field: value, "eventTimestamp": "2024-01-05T10:00:00Z"}
    if path == "/seat-events":
        first["total"] = 3
        assert app_client.post("/seat-metrics", json={"seatType": value, "label": "Editor"}).status_code == 201
    created = app_client.post(path, json=first)
    assert created.status_code == 201, created.text
    generated = created.json()["customerEventId"]
    again = {**first, "customerEventId": generated, "eventTimestamp": "2024-01-06T10:00:00Z"}
    assert app_client.post(path, json=again).status_code == 201
    model = UsageEvent if path == "/usage-events" else SeatEvent
    with unit_of_work() as s:
        rows = s.execute(select(model.event_timestamp, model.is_latest).where(model.customer_event_id == generated))
        assert sorted((r.event_timestamp.day, r.is_latest) for r in rows) == [(5, False), (6, True)]


def test_a_schedules_billing_runs(app_client: TestClient, account: Any) -> None:
    """SPEC §2.1 lists GET /billing-schedules/{id}/billing-runs; it used to answer 404."""
    schedule = seed_fixed_schedule(app_client, end="2024-03-31")
    other = seed_fixed_schedule(app_client, end="2024-03-31")
    mine = materialize(schedule["id"], dt.date(2024, 4, 1))
    materialize(other["id"], dt.date(2024, 4, 1))
    listed = app_client.get(
        f"/billing-schedules/{schedule['id']}/billing-runs?sortBy=INTENDED_DRAFTING_DATE&sortOrder=ASC"
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [i["id"] for i in items] == [str(r) for r in mine]
    assert {i["billingScheduleId"] for i in items} == {schedule["id"]}
    assert app_client.get(f"/billing-schedules/{uuid.uuid4()}/billing-runs").status_code == 404


def test_older_api_versions_are_served_with_their_customer_shape(app_client: TestClient, account: Any) -> None:
    """SPEC §3.2: 2024-01-01 and 2024-05-09 are accepted (they used to be 400); their customers carry the
    contact fields of their time instead of ``contacts``, and every response names the version it was served in."""
    body = {
        "legalName": "Versioned Ltd",
        "address": {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"},
        "contacts": [
            {"name": "Ann", "email": "ann@example.com", "phone": "0123", "billingPreference": "PRIMARY"},
            {"name": "Bob", "email": "bob@example.com", "billingPreference": "STANDARD"},
        ],
        "customerAliases": ["versioned-alias"],
    }
    created = app_client.post("/customers", json=body).json()
    for version in ("2024-05-09", "2024-01-01"):
        for path in (f"/customers/{created['id']}", "/customers/by-alias/versioned-alias"):
            old = app_client.get(path, headers={"Sequence-Version": version})
            assert old.status_code == 200 and old.headers["Sequence-Version"] == version
            shape = old.json()
            assert "contacts" not in shape
            assert (shape["contactName"], shape["email"], shape["telephone"]) == ("Ann", "ann@example.com", "0123")
            assert shape["billingEmails"] == ["ann@example.com", "bob@example.com"]
    latest = app_client.get(f"/customers/{created['id']}")
    assert latest.headers["Sequence-Version"] == "2024-07-30" and len(latest.json()["contacts"]) == 2
    assert "email" not in latest.json()
    assert app_client.get("/products", headers={"Sequence-Version": "2023-01-01"}).status_code == 400
