"""Invoice and schedule lifecycles over HTTP (SPEC §4.14-§4.15)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api, wait_until

pytestmark = pytest.mark.e2e
ADDRESS = {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"}


def _ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def fixed_schedule(
    api: Api, *, auto_issue: bool = False, frozen: str = "2023-12-31T00:00:00Z", amount: str = "100"
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    traveller = _ok(api.post("/time-travellers", {"frozenTime": frozen}))
    product = _ok(api.post("/products", {"name": "Platform"}))
    price = _ok(
        api.post(
            "/prices",
            {
                "name": "Platform",
                "productId": product["id"],
                "currency": "GBP",
                "structure": {"pricingType": "FIXED", "price": amount},
                "billingFrequency": "MONTHLY",
                "billingType": "IN_ARREARS",
            },
        )
    )
    customer = _ok(api.post("/customers", {"legalName": "L Ltd", "address": ADDRESS}))
    schedule = _ok(
        api.post(
            "/billing-schedules",
            {
                "customerId": customer["id"],
                "startDate": "2024-01-01",
                "taxRates": [],
                "autoIssueInvoices": auto_issue,
                "phases": [{"priceIds": [price["id"]], "startDate": "2024-01-01"}],
                "timeTravellerId": traveller["id"],
            },
        )
    )
    return traveller, schedule, price


def travel(api: Api, traveller: dict[str, Any], when: str) -> list[dict[str, Any]]:
    _ok(api.put(f"/time-travellers/{traveller['id']}", {"frozenTime": when}), 200)
    wait_until(lambda: api.get(f"/time-travellers/{traveller['id']}").json()["status"] == "READY")
    schedule_id = api.get(f"/time-travellers/{traveller['id']}").json()["billingScheduleId"]
    return list(api.get(f"/invoices?billingScheduleId={schedule_id}&sortOrder=ASC&limit=100").json()["items"])


def test_auto_issue_after_the_grace_period(api: Api) -> None:
    traveller, _, _ = fixed_schedule(api, auto_issue=True)
    (draft,) = travel(api, traveller, "2024-02-01T00:30:00Z")
    assert draft["status"] == "DRAFT", "the default grace period of 1 h leaves room for late events"
    (sent,) = travel(api, traveller, "2024-02-01T01:00:00Z")
    assert sent["status"] == "SENT" and sent["invoiceNumber"] == "INV-000001"
    assert sent["issueDate"] == "2024-02-01" and sent["dueDate"] == "2024-03-02"


def test_numbering_transitions_and_payment_status(api: Api) -> None:
    traveller, _, _ = fixed_schedule(api)
    first, second = travel(api, traveller, "2024-03-01T12:00:00Z")
    assert "invoiceNumber" not in first  # absent until FINAL, omitted (SPEC §2.0)
    assert api.post(f"/invoices/{first['id']}/send").status_code == 409
    assert api.put(f"/invoices/{first['id']}/payment-status", {"paymentStatus": "PAID"}).status_code == 409
    final = _ok(api.post(f"/invoices/{first['id']}/finalize"), 200)
    assert final["status"] == "FINAL" and final["invoiceNumber"] == "INV-000001"
    assert (
        api.post(f"/invoices/{first['id']}/finalize").json()["error"]["errors"][0]["code"] == "invalidStatusTransition"
    )
    voided = _ok(api.post(f"/invoices/{second['id']}/void"), 200)
    assert voided["invoiceNumber"] == "INV-000002", "an unnumbered invoice gets a number when voided"
    assert _ok(api.post(f"/invoices/{first['id']}/send"), 200)["status"] == "SENT"
    paid = _ok(api.put(f"/invoices/{first['id']}/payment-status", {"paymentStatus": "PAID"}), 200)
    assert paid["paymentStatus"] == "PAID"
    assert api.post(f"/invoices/{first['id']}/void").status_code == 409, "a paid invoice cannot be voided"
    assert api.request("DELETE", f"/invoices/{first['id']}").status_code == 409


def test_delete_leaves_the_run_completed_and_manual_execution_recreates(api: Api) -> None:
    traveller, schedule, _ = fixed_schedule(api)
    (invoice,) = travel(api, traveller, "2024-02-01T12:00:00Z")
    deleted = api.request("DELETE", f"/invoices/{invoice['id']}")
    assert deleted.status_code == 200 and deleted.json()["id"] == invoice["id"], "200 with the object, as Sequence"
    (run,) = api.get(f"/billing-runs?billingScheduleId={schedule['id']}").json()["items"]
    assert run["status"] == "COMPLETED" and "invoiceId" not in run
    assert api.get(f"/invoices?billingScheduleId={schedule['id']}").json()["items"] == []
    _ok(api.post(f"/billing/execution/billing-schedules/{schedule['id']}/for-date/2024-02-01"), 202)
    wait_until(lambda: api.get(f"/time-travellers/{traveller['id']}").json()["status"] == "READY")
    (recreated,) = api.get(f"/invoices?billingScheduleId={schedule['id']}").json()["items"]
    assert recreated["netTotal"] == "100.00" and recreated["id"] != invoice["id"]
    too_late = api.post(f"/billing/execution/billing-schedules/{schedule['id']}/for-date/2024-03-01")
    assert too_late.status_code == 400, "a date after the schedule clock's today"


def test_schedule_edit_recalculates_drafts_and_archive_deprecates(api: Api) -> None:
    traveller, schedule, price = fixed_schedule(api)
    travel(api, traveller, "2024-02-15T00:00:00Z")
    product = api.get(f"/prices/{price['id']}").json()["productId"]
    dearer = _ok(
        api.post(
            "/prices",
            {
                "name": "Platform+",
                "productId": product,
                "currency": "GBP",
                "structure": {"pricingType": "FIXED", "price": "300"},
                "billingFrequency": "MONTHLY",
                "billingType": "IN_ARREARS",
            },
        )
    )
    edited = api.put(
        f"/billing-schedules/{schedule['id']}",
        {
            "startDate": "2024-01-01",
            "taxRates": [],
            "phases": [{"priceIds": [dearer["id"]], "startDate": "2024-01-01"}],
        },
    )
    assert edited.status_code == 200, edited.text
    wait_until(lambda: api.get(f"/time-travellers/{traveller['id']}").json()["status"] == "READY")
    (invoice,) = api.get(f"/invoices?billingScheduleId={schedule['id']}").json()["items"]
    assert invoice["netTotal"] == "300.00", "the DRAFT was recalculated with the edited phases"
    archived = _ok(api.post(f"/billing-schedules/{schedule['id']}/archive"), 200)
    assert archived["status"] == "CANCELLED" and archived["archivedAt"]
    assert (
        api.put(
            f"/billing-schedules/{schedule['id']}", {"startDate": "2024-01-01", "taxRates": [], "phases": []}
        ).status_code
        == 409
    )
    assert api.post(f"/billing/execution/billing-schedules/{schedule['id']}").status_code == 409
