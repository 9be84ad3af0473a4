"""The Sequence endpoints and behaviours billrun lacked (issue: conformance): DELETE answering 200 with the
deleted object, customer contacts, PATCH /invoices, deleting seat metrics and tax rates (refused while in use),
line-item-group writes, PUT /prices taking the whole object, and absent fields omitted rather than null."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.conftest import seed_fixed_schedule

pytestmark = pytest.mark.integration

ADDRESS = {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"}


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def _error_keys(response: Any, status: int) -> set[tuple[str, str]]:
    assert response.status_code == status, response.text
    return {(e["key"], e["code"]) for e in response.json()["error"]["errors"]}


def test_delete_answers_200_with_the_deleted_object(app_client: TestClient, account: Any) -> None:
    product = _ok(app_client.post("/products", json={"name": "P"}), 201)
    price_body = {"name": "P", "productId": product["id"], "currency": "GBP", "billingFrequency": "MONTHLY"}
    price_body |= {"billingType": "IN_ARREARS", "structure": {"pricingType": "FIXED", "price": "5"}}
    price = _ok(app_client.post("/prices", json=price_body), 201)
    assert _ok(app_client.delete(f"/prices/{price['id']}")) == price
    assert app_client.get(f"/prices/{price['id']}").status_code == 404
    metric = _ok(
        app_client.post(
            "/usage-metrics", json={"name": "M", "metricType": "SIMPLE", "eventType": "e", "aggregationType": "COUNT"}
        ),
        201,
    )
    assert _ok(app_client.delete(f"/usage-metrics/{metric['id']}"))["id"] == metric["id"]
    customer = _ok(app_client.post("/customers", json={"legalName": "C", "address": ADDRESS}), 201)
    alias = _ok(app_client.post("/customer-aliases", json={"customerId": customer["id"], "value": "del-me"}), 201)
    deleted = _ok(app_client.delete(f"/customer-aliases/{alias['id']}"))
    assert deleted["id"] == alias["id"] and deleted["deletedAt"]


def test_absent_fields_are_omitted_not_null(app_client: TestClient, account: Any) -> None:
    """A generated Sequence client rejects null in a non-nullable field; absent optional fields are omitted."""
    product = _ok(app_client.post("/products", json={"name": "No label"}), 201)
    assert "label" not in product and "archivedAt" not in product
    page = _ok(app_client.get("/products?limit=1"))
    assert "before" not in page["pagination"]
    customer = _ok(app_client.post("/customers", json={"legalName": "C", "address": ADDRESS}), 201)
    assert "state" not in customer["address"] and "url" not in customer and "parentId" not in customer
    assert (customer["status"], customer["organizations"], customer["customProperties"]) == ("ACTIVE", [], {})


def test_seat_metrics_and_tax_rates_can_be_deleted_unless_in_use(app_client: TestClient, account: Any) -> None:
    seat = _ok(app_client.post("/seat-metrics", json={"seatType": "viewer", "label": "Viewer"}), 201)
    product = _ok(app_client.post("/products", json={"name": "Seats"}), 201)
    structure = {"pricingType": "SEAT_BASED", "seatMetricId": seat["id"], "pricePerSeat": "3"}
    structure |= {"prorationStrategy": "USE_MAXIMUM", "contractedMinimumSeats": 0}
    body = {"name": "Seats", "productId": product["id"], "currency": "GBP", "billingFrequency": "MONTHLY"}
    price = _ok(app_client.post("/prices", json={**body, "billingType": "IN_ARREARS", "structure": structure}), 201)
    assert _error_keys(app_client.delete(f"/seat-metrics/{seat['id']}"), 409) == {("", "inUse")}
    _ok(app_client.delete(f"/prices/{price['id']}"))
    assert _ok(app_client.delete(f"/seat-metrics/{seat['id']}"))["seatType"] == "viewer"
    assert app_client.get(f"/seat-metrics/{seat['id']}").status_code == 404

    schedule = seed_fixed_schedule(app_client)
    used = schedule["taxRates"][0]["taxRateId"]
    assert _error_keys(app_client.delete(f"/tax-rates/{used}"), 409) == {("", "inUse")}
    spare = _ok(
        app_client.post(
            "/tax-rates",
            json={"name": "S", "invoiceName": "S", "invoiceShortName": "S", "amount": "0.1", "country": "GB"},
        ),
        201,
    )
    assert _ok(app_client.delete(f"/tax-rates/{spare['id']}"))["amount"] == "0.1"
    assert app_client.get(f"/tax-rates/{spare['id']}").status_code == 404


def test_customer_contacts(app_client: TestClient, account: Any) -> None:
    body = {"legalName": "C", "address": ADDRESS, "contacts": [{"name": "Ann", "email": "ann@example.com"}]}
    customer = _ok(
        app_client.post(
            "/customers", json={**body, "contacts": [{**body["contacts"][0], "billingPreference": "PRIMARY"}]}
        ),
        201,
    )
    path = f"/customers/{customer['id']}/contacts"
    bob = _ok(app_client.post(path, json={"name": "Bob", "email": "bob@example.com"}), 201)
    assert bob["billingPreference"] == "STANDARD" and bob["createdAt"] == bob["updatedAt"]
    assert _error_keys(
        app_client.post(path, json={"name": "Cy", "email": "c@example.com", "billingPreference": "PRIMARY"}), 400
    ) == {("billingPreference", "conflictingFields")}
    assert _error_keys(app_client.post(path, json={"name": "No email"}), 400) == {("email", "required")}
    renamed = _ok(app_client.put(f"{path}/{bob['id']}", json={"name": "Robert"}))
    assert (renamed["name"], renamed["email"]) == ("Robert", "bob@example.com")
    assert [c["name"] for c in _ok(app_client.get(path))["items"]] == ["Ann", "Robert"]
    archived = _ok(app_client.post(f"{path}/{bob['id']}/archive"))
    assert archived["archivedAt"]
    assert [c["name"] for c in _ok(app_client.get(path))["items"]] == ["Ann"]
    assert len(_ok(app_client.get(f"{path}?includeArchived=true"))["items"]) == 2
    assert app_client.put(f"{path}/{uuid.uuid4()}", json={"name": "x"}).status_code == 404
    # an archived contact receives no invoices
    invoice = _ok(app_client.post("/invoices", json={"customerId": customer["id"], "currency": "GBP"}), 201)
    assert invoice["customerEmails"] == ["ann@example.com"]


def test_invoice_patch_and_line_item_groups(app_client: TestClient, account: Any) -> None:
    customer = _ok(app_client.post("/customers", json={"legalName": "C", "address": ADDRESS}), 201)
    invoice = _ok(app_client.post("/invoices", json={"customerId": customer["id"], "currency": "GBP"}), 201)
    patched = _ok(app_client.patch(f"/invoices/{invoice['id']}", json={"memo": "Thanks", "dueDate": "2025-01-31"}))
    assert (patched["memo"], patched["dueDate"], patched["dueDateSource"]) == ("Thanks", "2025-01-31", "MANUAL")
    groups = f"/invoices/{invoice['id']}/line-item-groups"
    group = _ok(app_client.post(groups, json={"title": "Seats"}), 201)
    line = _ok(
        app_client.post(
            f"/invoices/{invoice['id']}/line-items",
            json={"title": "Seat", "quantity": "3", "rate": "10", "taxRate": "0.2", "groupId": group["id"]},
        ),
        201,
    )
    assert (line["netTotal"], line["totalTax"], line["grossTotal"]) == ("30.00", "6.00", "36.00")
    assert _ok(app_client.put(f"{groups}/{group['id']}", json={"title": "Users"}))["title"] == "Users"
    assert _ok(app_client.get(groups))["items"][0]["grossTotal"] == "36.00"
    assert _error_keys(app_client.delete(f"{groups}/{group['id']}"), 409) == {("", "inUse")}
    _ok(app_client.delete(f"/invoices/{invoice['id']}/line-items/{line['id']}"))
    assert _ok(app_client.delete(f"{groups}/{group['id']}"))["title"] == "Users"
    assert _ok(app_client.get(groups))["items"] == []
    finalized = _ok(app_client.post(f"/invoices/{invoice['id']}/finalize"))
    assert finalized["dueDate"] == "2025-01-31"  # a due date set by hand survives finalisation
    assert app_client.post(groups, json={"title": "Late"}).status_code == 409


def test_put_price_takes_the_whole_object(app_client: TestClient, account: Any) -> None:
    """A client reads a price, edits it and writes it back whole: equal fields pass, mutable ones change, and a
    changed immutable one is refused by name."""
    product = _ok(app_client.post("/products", json={"name": "P"}), 201)
    body = {"name": "P", "productId": product["id"], "currency": "GBP", "billingFrequency": "MONTHLY"}
    body |= {"billingType": "IN_ARREARS", "structure": {"pricingType": "FIXED", "price": "5"}}
    price = _ok(app_client.post("/prices", json=body), 201)
    edited = {**price, "name": "Renamed", "status": "DRAFT", "integrationIds": [{"service": "Xero", "id": "x1"}]}
    updated = _ok(app_client.put(f"/prices/{price['id']}", json=edited))
    assert (updated["name"], updated["status"], updated["integrationIds"]) == (
        "Renamed",
        "DRAFT",
        [{"service": "Xero", "id": "x1", "isPending": False}],
    )
    changed = {**updated, "currency": "EUR", "structure": {"pricingType": "FIXED", "price": "6"}}
    assert _error_keys(app_client.put(f"/prices/{price['id']}", json=changed), 400) == {
        ("currency", "immutable"),
        ("structure", "immutable"),
    }
    assert _ok(app_client.get(f"/prices/{price['id']}"))["structure"]["price"] == "5"
