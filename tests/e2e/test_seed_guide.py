"""The seed guide (tests/acceptance/seeds/000_*.txt) request by request, read from the guide itself: only the host is
replaced (and the documentation's ids by the ids our server returned), and the one missing comma added
after the unrepaired request got its 400 invalidJson (SPEC §2.0)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Api

SEED = next((Path(__file__).resolve().parents[1] / "acceptance" / "seeds").glob("000_*.txt"))
pytestmark = pytest.mark.e2e


def curl_requests(text: str) -> list[dict[str, Any]]:
    """Each ``curl`` command: method, path, raw body as printed, and the id of the documented response."""
    requests = []
    blocks = re.split(r"(?=^curl -X )", text, flags=re.M)[1:]
    for block in blocks:
        head = re.match(r'curl -X (\w+) --location "https://eu\.sequencehq\.com/api([^"]*)"', block)
        assert head, block[:200]
        body = re.search(r"-d '(.*?)'\n", block, flags=re.S)
        documented = re.search(r'"id": "([0-9a-f-]{36})"', block[body.end() :] if body else block)
        requests.append(
            {
                "method": head.group(1),
                "path": head.group(2),
                "body": body.group(1) if body else None,
                "documented_id": documented.group(1) if documented else None,
            }
        )
    return requests


def test_seed_guide_verbatim(api: Api) -> None:
    requests = curl_requests(SEED.read_text())
    assert [(r["method"], r["path"]) for r in requests] == [
        ("POST", "/products"),
        ("POST", "/seat-metrics"),
        ("POST", "/prices"),
        ("POST", "/customers"),
        ("POST", "/tax-rates"),
        ("POST", "/billing-schedules"),
        ("POST", "/seat-events"),
        ("GET", "/invoices"),
    ]
    ids: dict[str, str] = {}
    responses: dict[str, Any] = {}
    for request in requests:
        raw = request["body"]
        if raw is not None:
            for documented, ours in ids.items():
                raw = raw.replace(documented, ours)
        if request["path"] == "/prices":
            printed = api.request("POST", "/prices", raw=raw.encode())
            assert printed.status_code == 400
            error = printed.json()["error"]
            assert error["type"] == "validationError"
            assert error["errors"][0]["code"] == "invalidJson" and error["errors"][0]["key"] == ""
            assert "line" in error["errors"][0]["message"] and "column" in error["errors"][0]["message"]
            raw = raw.replace('"SEAT_BASED"\n', '"SEAT_BASED",\n')
        response = api.request(request["method"], request["path"], raw=raw.encode() if raw is not None else None)
        assert response.status_code == (200 if request["method"] == "GET" else 201), (request["path"], response.text)
        assert response.headers["Sequence-Version"] == "2024-07-30"
        responses[request["path"]] = response.json()
        if request["documented_id"] and request["method"] == "POST":
            ids[request["documented_id"]] = response.json()["id"]

    price = responses["/prices"]
    assert price["name"] == "Editor seat for "
    assert price["structure"] == {
        "pricingType": "SEAT_BASED",
        "seatMetricId": responses["/seat-metrics"]["id"],
        "pricePerSeat": "15.0",
        "prorationStrategy": "PRORATE_INCREMENTS",
        "contractedMinimumSeats": 0,
        "overagesBillingFrequency": "NONE",  # Sequence's name for "with the price's own frequency"
        "tiers": [],
    }
    assert price["integrationIds"] == [] and price["sequenceAccountId"] == api.account_id
    customer = responses["/customers"]
    assert customer["contacts"][0]["name"] == "John Doe"
    assert [(c["email"], c["billingPreference"]) for c in customer["contacts"]] == [
        ("john@example.com", "PRIMARY"),
        ("billing@example.com", "STANDARD"),
    ]
    assert customer["contacts"][0]["phone"] == "001122334455"
    assert customer["integrationIds"][0]["service"] == "Stripe"
    assert responses["/tax-rates"]["amount"] == "0.2" and responses["/tax-rates"]["version"] == 0
    schedule = responses["/billing-schedules"]
    assert schedule["status"] == "ACTIVE" and schedule["autoIssueInvoices"] is False
    assert schedule["rollUpBilling"] is True and schedule["firstBillingDate"] == "2024-02-01"
    seat = responses["/seat-events"]
    assert seat["total"] == 1 and seat["customerAlias"] == customer["id"]
    assert seat["eventTimestamp"] == "2024-05-02T19:00:00.000000Z"
    assert set(responses["/invoices"]) == {"items", "pagination"}
    # one page: no cursor either way, so only the size (absent cursors are omitted, SPEC §2.0)
    assert responses["/invoices"]["pagination"] == {"totalResultSize": len(responses["/invoices"]["items"])}
