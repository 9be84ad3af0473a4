"""A seat balance lowered at exactly 00:00:00Z, over HTTP with a real worker (SPEC §4.7.1): the day it starts
is billed at the new balance, for the time-weighted strategy and for a drop at the period's first instant."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e
ADDRESS = {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"}


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json())


def _schedule(api: Api, strategy: str) -> tuple[dict[str, Any], dict[str, Any]]:
    product = _ok(api.post("/products", {"name": "Seats"}))
    metric = _ok(api.post("/seat-metrics", {"seatType": "editor", "label": "Editor"}))
    price = _ok(
        api.post(
            "/prices",
            {
                "name": "Seats",
                "productId": product["id"],
                "currency": "GBP",
                "structure": {
                    "pricingType": "SEAT_BASED",
                    "seatMetricId": metric["id"],
                    "pricePerSeat": "30",
                    "prorationStrategy": strategy,
                    "contractedMinimumSeats": 0,
                },
                "billingFrequency": "MONTHLY",
                "billingType": "IN_ARREARS",
            },
        )
    )
    tax = _ok(
        api.post(
            "/tax-rates", {"name": "Z", "invoiceName": "Z", "invoiceShortName": "Z", "amount": "0", "country": "GB"}
        )
    )
    customer = _ok(api.post("/customers", {"legalName": "Midnight Ltd", "address": ADDRESS}))
    body = {
        "customerId": customer["id"],
        "startDate": "2024-05-01",
        "recurrenceDayOfMonth": 1,
        "taxRates": [{"priceId": price["id"], "taxRateId": tax["id"]}],
        "phases": [{"priceIds": [price["id"]], "startDate": "2024-05-01"}],
    }
    return body, customer


def _seats(api: Api, alias: str, when: str, total: int) -> None:
    _ok(
        api.post("/seat-events", {"customerAlias": alias, "seatType": "editor", "eventTimestamp": when, "total": total})
    )


def test_a_midnight_drop_bills_the_new_balance_from_that_day(api: Api, travel: Any) -> None:
    body, customer = _schedule(api, "PRORATE_ALL_CHANGES")
    _seats(api, customer["id"], "2024-04-20T09:00:00Z", 7)
    _seats(api, customer["id"], "2024-05-11T00:00:00Z", 3)
    _, advance_to = travel(body, "2024-04-30T00:00:00Z")
    (may,) = advance_to("2024-06-01T12:00:00Z")
    # 7 seats on 05-01..05-10, 3 on 05-11..05-31: 133 seat-days x 30/31 (137 seat-days, 132.58, counted 7 on 05-11)
    assert may["netTotal"] == "128.71"


def test_a_drop_at_the_period_start_bills_only_the_new_balance(api: Api, travel: Any) -> None:
    body, customer = _schedule(api, "PRORATE_INCREMENTS")
    _seats(api, customer["id"], "2024-04-20T09:00:00Z", 7)
    _seats(api, customer["id"], "2024-05-01T00:00:00Z", 3)
    _, advance_to = travel(body, "2024-04-30T00:00:00Z")
    (may,) = advance_to("2024-06-01T12:00:00Z")
    assert may["netTotal"] == "90.00"  # 3 x 30, not 7 x 30
