"""``POST /billing-schedules/{id}/preview``: the invoice a schedule would draft on a drafting date, computed by
a run's own calculation from the data as it is, persisting nothing; then the real run drafts exactly it."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billrun.store import accounts
from billrun.store.db import unit_of_work
from billrun.store.models import CalculationSnapshot, Invoice
from tests.integration.test_documents import bill_january, every_pricing_type_schedule

pytestmark = pytest.mark.integration


def _rows(lines: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (line["index"], line["title"], line["quantity"], line["rate"], line["netTotal"], line["totalTax"])
        for line in lines
    )


def _count(model: type) -> int:
    with unit_of_work() as s:
        return s.query(model).count()


def test_the_preview_is_the_invoice_the_run_then_drafts(app_client: TestClient, account: Any) -> None:
    schedule = every_pricing_type_schedule(app_client, "Preview Ltd")
    before = (_count(Invoice), _count(CalculationSnapshot))
    response = app_client.post(f"/billing-schedules/{schedule['id']}/preview", json={"date": "2024-02-01"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["billingScheduleId"], body["date"]) == (schedule["id"], "2024-02-01")
    (previewed,) = body["invoices"]
    assert "id" not in previewed and "billingRunId" not in previewed  # persisted nowhere, made by no run
    assert (_count(Invoice), _count(CalculationSnapshot)) == before

    invoice = bill_january(app_client, schedule)
    lines = app_client.get(f"/invoices/{invoice['id']}/line-items").json()["items"]
    assert _rows(previewed["lineItems"]) == _rows(lines) and len(lines) > 10
    for total in ("netTotal", "totalTax", "grossTotal"):
        assert previewed[total] == invoice[total]
    assert previewed["billingPeriod"]["start"] == invoice["billingPeriod"]["start"] == "2024-01-01"

    # a date already billed previews what re-executing it would draft now: a late event shows up there
    late = {"customerEventId": "late-1", "eventType": "call", "eventTimestamp": "2024-01-30T10:00:00Z"}
    assert app_client.post("/usage-events", json={"customerAlias": invoice["customerId"], **late}).status_code in (
        200,
        201,
    )
    again = app_client.post(f"/billing-schedules/{schedule['id']}/preview", json={"date": "2024-02-01"}).json()
    (after,) = again["invoices"]
    linear = next(line for line in after["lineItems"] if line["title"] == "Calls linear")
    assert linear["quantity"] == "151"


def test_without_a_date_the_next_drafting_date_and_a_day_without_one(app_client: TestClient, account: Any) -> None:
    schedule = every_pricing_type_schedule(app_client, "Preview Ltd")
    clock = {"frozenTime": "2024-01-15T12:00:00Z", "billingScheduleId": schedule["id"]}
    assert app_client.post("/time-travellers", json=clock).status_code == 201
    body = app_client.post(f"/billing-schedules/{schedule['id']}/preview").json()
    assert body["date"] == "2024-02-01" and len(body["invoices"]) == 1  # the next one, on the schedule's clock
    quiet = app_client.post(f"/billing-schedules/{schedule['id']}/preview", json={"date": "2024-01-17"}).json()
    assert quiet == {"billingScheduleId": schedule["id"], "date": "2024-01-17", "invoices": []}


def test_bad_requests(app_client: TestClient, account: Any) -> None:
    schedule = every_pricing_type_schedule(app_client, "Preview Ltd")
    bad = app_client.post(f"/billing-schedules/{schedule['id']}/preview", json={"date": "2024-13-01"})
    assert bad.status_code == 400 and bad.json()["error"]["errors"][0]["key"] == "date"
    assert app_client.post("/billing-schedules/nope/preview", json={}).status_code == 404
    assert app_client.post(f"/billing-schedules/{schedule['id']}/preview", content=b"{").status_code == 400


def test_usage_to_date_rates_the_events_so_far_as_the_run_will(app_client: TestClient, account: Any) -> None:
    schedule = every_pricing_type_schedule(app_client, "Usage Ltd")
    clock = {"frozenTime": "2024-01-20T12:00:00Z", "billingScheduleId": schedule["id"]}
    traveller = app_client.post("/time-travellers", json=clock).json()
    usage = app_client.get(f"/customers/{schedule['customerId']}/current-usage").json()
    (mine,) = usage["schedules"]
    assert (mine["billingScheduleId"], mine["today"], mine["currency"]) == (schedule["id"], "2024-01-20", "GBP")
    by_name = {p["priceName"]: p for p in mine["prices"]}
    assert set(by_name) == {"Calls linear", "Calls packages", "Calls volume", "Calls graduated", "Payment fees"}
    # 150 calls over days 1-28 of January, cycling: 110 of them are dated up to the 20th
    linear = by_name["Calls linear"]
    assert (linear["value"], linear["eventCount"], linear["amountSoFar"]) == ("110", 110, "1.43")
    assert linear["period"] == {"start": "2024-01-01", "endInclusive": "2024-01-31"}
    assert by_name["Calls packages"]["amountSoFar"] == "7.50"  # ceil(110 / 40) = 3 packages x 2.50
    assert (by_name["Calls volume"]["tierReached"], by_name["Calls volume"]["amountSoFar"]) == (2, "8.80")
    graduated = by_name["Calls graduated"]
    assert [(x["quantity"], x["rate"]) for x in graduated["lines"]] == [("100", "0.1"), ("1", "5"), ("10", "0.08")]
    assert (graduated["tierReached"], graduated["amountSoFar"]) == (2, "15.80")
    assert by_name["Payment fees"]["amountSoFar"] == "13.00"

    # on the period's last day, usage to date is what the run will bill for each usage price
    assert (
        app_client.put(f"/time-travellers/{traveller['id']}", json={"frozenTime": "2024-01-31T12:00:00Z"}).status_code
        == 200
    )
    usage = app_client.get(f"/customers/{schedule['customerId']}/current-usage").json()
    (invoice,) = app_client.post(f"/billing-schedules/{schedule['id']}/preview", json={"date": "2024-02-01"}).json()[
        "invoices"
    ]
    for price in usage["schedules"][0]["prices"]:
        billed = [line for line in invoice["lineItems"] if line.get("priceId") == price["priceId"]]
        assert [(x["quantity"], x["rate"]) for x in billed] == [(x["quantity"], x["rate"]) for x in price["lines"]]
        assert sum(Decimal(x["netTotal"]) for x in billed) == Decimal(price["amountSoFar"])


def test_usage_to_date_keeps_to_the_callers_account(app_client: TestClient, account: Any) -> None:
    schedule = every_pricing_type_schedule(app_client, "Usage Ltd")
    assert app_client.get(f"/customers/{uuid.uuid4()}/current-usage").status_code == 404
    mine = app_client.auth
    with unit_of_work() as s:
        other = accounts.create_account(s, f"other-{uuid.uuid4().hex[:8]}", rate_limit_per_minute=0)
    try:
        app_client.auth = (other.api_key, other.api_secret)
        assert app_client.get(f"/customers/{schedule['customerId']}/current-usage").status_code == 404
    finally:
        app_client.auth = mine
