"""Webhooks end to end: a time traveller bills a schedule over several months through the HTTP API and a real
Celery worker; a real receiver on loopback gets one ``invoice.drafted`` per invoice (deduplicated by
``webhook-id``), each verified with the ``standardwebhooks`` library and carrying the invoice exactly as
``GET /invoices/{id}`` serves it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Api, wait_until
from tests.webhook_receiver import Receiver, receiver

pytestmark = pytest.mark.e2e
ADDRESS = {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"}


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def _ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def test_a_traveller_s_invoices_are_each_announced_once_signed_and_as_get_serves_them(
    api: Api, travel: Any, hooks: Receiver
) -> None:
    endpoint = _ok(api.post("/webhook-endpoints", {"url": hooks.url, "description": "e2e receiver"}))
    product = _ok(api.post("/products", {"name": "Seats"}))
    price = _ok(
        api.post(
            "/prices",
            {
                "name": "Platform",
                "productId": product["id"],
                "currency": "GBP",
                "structure": {"pricingType": "FIXED", "price": "250"},
                "billingFrequency": "MONTHLY",
                "billingType": "IN_ADVANCE",
            },
        )
    )
    customer = _ok(api.post("/customers", {"legalName": "Hooked Ltd", "address": ADDRESS}))
    _schedule, advance_to = travel(
        {
            "customerId": customer["id"],
            "startDate": "2024-01-01",
            "taxRates": [],
            "phases": [{"priceIds": [price["id"]], "startDate": "2024-01-01"}],
        },
        "2023-12-31T00:00:00Z",
    )
    months = ["2024-02-01T12:00:00Z", "2024-03-15T00:00:00Z", "2024-05-02T00:00:00Z", "2024-07-01T09:00:00Z"]
    for moment in months:
        billed = advance_to(moment)
    assert len(billed) == 7  # in advance: January to July

    def drafted() -> dict[str, dict[str, Any]]:
        payloads = hooks.unique(endpoint["secret"])  # verifies every request's signature
        return {p["data"]["id"]: p for p in payloads.values() if p["type"] == "invoice.drafted"}

    wait_until(lambda: len(drafted()) == len(billed), timeout=60)
    announced = drafted()
    assert sorted(announced) == sorted(i["id"] for i in billed)
    for invoice in billed:
        assert announced[invoice["id"]]["data"] == api.get(f"/invoices/{invoice['id']}").json()
    per_invoice = [p["data"]["id"] for p in hooks.verified(endpoint["secret"]) if p["type"] == "invoice.drafted"]
    # a redelivery (same webhook-id) is the only way an invoice is announced twice
    assert len(set(per_invoice)) == len(billed)
    ready = [p for p in hooks.unique(endpoint["secret"]).values() if p["type"] == "time_traveller.ready"]
    assert len(ready) == len(months)
    listed = api.get(f"/webhook-deliveries?endpointId={endpoint['id']}&eventType=invoice.drafted&limit=100").json()
    assert {d["status"] for d in listed["items"]} == {"DELIVERED"} and len(listed["items"]) == len(billed)
    assert all(d["attempts"][-1]["httpStatus"] == 200 for d in listed["items"])
