"""SPEC §7's ``travel`` fixture in use: a usage schedule travelled month by month over HTTP with a real worker,
a late event recalculating the DRAFT (the traveller is IN_PROGRESS until it has), and a finalized invoice
left alone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e
ADDRESS = {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"}


def _ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def _usage(api: Api, alias: str, stamp: str, units: int) -> None:
    _ok(
        api.post(
            "/usage-events",
            {
                "customerAlias": alias,
                "eventType": "usage",
                "eventTimestamp": stamp,
                "eventProperties": {"units": units},
            },
        )
    )


def test_travel_fixture_bills_usage_and_recalculates_late_events(api: Api, travel: Any) -> None:
    product = _ok(api.post("/products", {"name": "Units"}))
    metric = _ok(
        api.post(
            "/usage-metrics",
            {
                "name": "Units",
                "metricType": "SIMPLE",
                "eventType": "usage",
                "aggregationType": "SUM",
                "aggregationProperty": "units",
            },
        )
    )
    price = _ok(
        api.post(
            "/prices",
            {
                "name": "Units",
                "productId": product["id"],
                "currency": "GBP",
                "structure": {"pricingType": "LINEAR", "usageMetricId": metric["id"], "pricePerUnit": "0.50"},
                "billingFrequency": "MONTHLY",
                "billingType": "IN_ARREARS",
            },
        )
    )
    customer = _ok(api.post("/customers", {"legalName": "Travel Ltd", "address": ADDRESS}))
    schedule, advance_to = travel(
        {
            "customerId": customer["id"],
            "startDate": "2024-01-01",
            "taxRates": [],
            "phases": [{"priceIds": [price["id"]], "startDate": "2024-01-01"}],
        },
        "2023-12-31T00:00:00Z",
    )
    assert schedule["status"] == "PENDING"
    _usage(api, customer["id"], "2024-01-05T10:00:00Z", 40)
    _usage(api, customer["id"], "2024-02-05T10:00:00Z", 10)

    (january,) = advance_to("2024-02-01T12:00:00Z")
    assert (january["billingPeriod"]["start"], january["netTotal"], january["status"]) == (
        "2024-01-01",
        "20.00",
        "DRAFT",
    )

    _usage(api, customer["id"], "2024-01-31T23:59:59Z", 2)  # late: the traveller waits for the recalculation
    (recalculated,) = advance_to("2024-02-01T12:00:00Z")
    assert (recalculated["id"], recalculated["netTotal"]) == (january["id"], "21.00")

    _ok(api.post(f"/invoices/{january['id']}/finalize"), 200)
    _usage(api, customer["id"], "2024-01-20T00:00:00Z", 100)  # for a FINAL invoice: never applied
    first, february = advance_to("2024-03-01T12:00:00Z")
    assert (first["id"], first["netTotal"], first["status"]) == (january["id"], "21.00", "FINAL")
    assert (february["billingPeriod"]["start"], february["netTotal"]) == ("2024-02-01", "5.00")
