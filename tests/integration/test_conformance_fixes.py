"""Server errors found by checking billrun against Sequence's published OpenAPI, each pinned by the test that
failed before its fix."""

from __future__ import annotations

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
    assert body["id"] is None and body["billingRunId"] == str(run_id)
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
