"""SPEC §3 conventions over HTTP: authentication, versioning, idempotency, pagination, error envelope, and
strict tenant isolation for every resource."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Api, create_account

pytestmark = pytest.mark.e2e
ADDRESS = {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"}


def _ok(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def seed_everything(api: Api) -> dict[str, dict[str, Any]]:
    """One object of every kind, owned by ``api``'s account."""
    made: dict[str, dict[str, Any]] = {}
    made["product"] = _ok(api.post("/products", {"name": "P"}))
    made["seat-metric"] = _ok(api.post("/seat-metrics", {"seatType": "seat", "label": "Seat"}))
    made["usage-metric"] = _ok(
        api.post(
            "/usage-metrics", {"name": "Calls", "metricType": "SIMPLE", "eventType": "call", "aggregationType": "COUNT"}
        )
    )
    made["price"] = _ok(
        api.post(
            "/prices",
            {
                "name": "Calls",
                "productId": made["product"]["id"],
                "currency": "GBP",
                "billingFrequency": "MONTHLY",
                "billingType": "IN_ARREARS",
                "structure": {
                    "pricingType": "LINEAR",
                    "usageMetricId": made["usage-metric"]["id"],
                    "pricePerUnit": "1",
                },
            },
        )
    )
    made["customer"] = _ok(api.post("/customers", {"legalName": "C", "address": ADDRESS}))
    made["alias"] = _ok(api.post("/customer-aliases", {"customerId": made["customer"]["id"], "value": "alias-a"}))
    made["tax-rate"] = _ok(
        api.post(
            "/tax-rates", {"name": "T", "invoiceName": "T", "invoiceShortName": "T", "amount": "0.1", "country": "GB"}
        )
    )
    made["traveller"] = _ok(api.post("/time-travellers", {"frozenTime": "2024-01-01T00:00:00Z"}))
    made["schedule"] = _ok(
        api.post(
            "/billing-schedules",
            {
                "customerId": made["customer"]["id"],
                "startDate": "2024-01-01",
                "taxRates": [],
                "phases": [{"priceIds": [made["price"]["id"]], "startDate": "2024-01-01"}],
            },
        )
    )
    made["usage-event"] = _ok(
        api.post(
            "/usage-events", {"customerAlias": "alias-a", "eventType": "call", "eventTimestamp": "2024-01-02T00:00:00Z"}
        )
    )
    made["seat-event"] = _ok(
        api.post(
            "/seat-events",
            {"customerAlias": "alias-a", "seatType": "seat", "eventTimestamp": "2024-01-02T00:00:00Z", "total": 2},
        )
    )
    made["invoice"] = _ok(api.post("/invoices", {"customerId": made["customer"]["id"], "currency": "GBP"}))
    return made


PATHS = {
    "product": "/products",
    "seat-metric": "/seat-metrics",
    "usage-metric": "/usage-metrics",
    "price": "/prices",
    "customer": "/customers",
    "tax-rate": "/tax-rates",
    "traveller": "/time-travellers",
    "schedule": "/billing-schedules",
    "usage-event": "/usage-events",
    "seat-event": "/seat-events",
    "invoice": "/invoices",
}


def test_tenant_isolation_on_every_resource(api: Api, api_base_url: str) -> None:
    mine = seed_everything(api)
    other = Api(api_base_url, create_account("intruder"))
    for kind, path in PATHS.items():
        listed = _ok(other.get(path), 200)
        assert listed["items"] == [] and listed["pagination"]["totalResultSize"] == 0, kind
        assert other.get(f"{path}/{mine[kind]['id']}").status_code == 404, kind
        assert other.get(f"{path}/{mine[kind]['id']}").json()["error"]["type"] == "notFound"
    assert _ok(other.get("/customer-aliases"), 200)["items"] == []
    assert other.get(f"/customers/by-alias/{mine['alias']['value']}").status_code == 404
    assert other.get(f"/customers/{mine['customer']['id']}/aliases").status_code == 404
    assert (
        other.get(
            f"/usage-metrics/{mine['usage-metric']['id']}/calculate?customerAliases=alias-a&"
            "periodStart=2024-01-01&periodEnd=2024-01-31"
        ).status_code
        == 404
    )
    valid_updates = {
        "product": {"name": "x"},
        "seat-metric": {"label": "x"},
        "customer": {"label": "x"},
        "tax-rate": {"name": "x"},
        "price": {"name": "x"},
        "usage-metric": {"name": "y"},
    }
    for kind, body in valid_updates.items():
        assert other.put(f"{PATHS[kind]}/{mine[kind]['id']}", body).status_code == 404, kind
    assert (
        other.put(f"/time-travellers/{mine['traveller']['id']}", {"frozenTime": "2025-01-01T00:00:00Z"}).status_code
        == 404
    )
    assert other.put(f"/customer-aliases/{mine['alias']['id']}", {"label": "x"}).status_code == 404
    assert other.request("DELETE", f"/prices/{mine['price']['id']}").status_code == 404
    assert other.request("DELETE", f"/usage-metrics/{mine['usage-metric']['id']}").status_code == 404
    assert other.request("DELETE", f"/customer-aliases/{mine['alias']['id']}").status_code == 404
    assert other.request("DELETE", f"/invoices/{mine['invoice']['id']}").status_code == 404
    assert other.post(f"/invoices/{mine['invoice']['id']}/finalize").status_code == 404
    assert other.post(f"/products/{mine['product']['id']}/archive").status_code == 404
    assert other.post(f"/billing/execution/billing-schedules/{mine['schedule']['id']}").status_code == 404
    assert other.post(f"/billing-schedules/{mine['schedule']['id']}/archive").status_code == 404
    # References to another account's objects in request bodies are unknown references, never accepted.
    price = other.post(
        "/prices",
        {
            "name": "x",
            "productId": mine["product"]["id"],
            "currency": "GBP",
            "billingFrequency": "MONTHLY",
            "billingType": "IN_ARREARS",
            "structure": {"pricingType": "LINEAR", "usageMetricId": mine["usage-metric"]["id"], "pricePerUnit": "1"},
        },
    )
    assert price.status_code == 400
    assert {e["key"] for e in price.json()["error"]["errors"]} == {"productId", "structure.usageMetricId"}
    schedule = other.post(
        "/billing-schedules",
        {
            "customerId": mine["customer"]["id"],
            "startDate": "2024-01-01",
            "timeTravellerId": mine["traveller"]["id"],
            "taxRates": [{"priceId": mine["price"]["id"], "taxRateId": mine["tax-rate"]["id"]}],
            "phases": [{"priceIds": [mine["price"]["id"]], "startDate": "2024-01-01"}],
        },
    )
    assert schedule.status_code == 400
    keys = {e["key"] for e in schedule.json()["error"]["errors"]}
    assert {"customerId", "phases[0].priceIds[0]", "timeTravellerId"} <= keys
    alias = other.post("/customer-aliases", {"customerId": mine["customer"]["id"], "value": "alias-b"})
    assert alias.status_code == 400
    assert other.post("/invoices", {"customerId": mine["customer"]["id"], "currency": "GBP"}).status_code == 400
    # Events of the other account never count for mine.
    other.post(
        "/usage-events", {"customerAlias": "alias-a", "eventType": "call", "eventTimestamp": "2024-01-03T00:00:00Z"}
    )
    calc = _ok(
        api.get(
            f"/usage-metrics/{mine['usage-metric']['id']}/calculate?customerAliases=alias-a&"
            "periodStart=2024-01-01&periodEnd=2024-01-31"
        ),
        200,
    )
    assert calc["eventCount"] == 1
    assert _ok(api.get(f"/products/{mine['product']['id']}"), 200)["name"] == "P"


def test_authentication_and_versioning(api: Api, api_base_url: str) -> None:
    anonymous = httpx.get(f"{api_base_url}/products")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "unauthorized"
    wrong = httpx.get(f"{api_base_url}/products", auth=("key_nope", "sec_nope"))
    assert wrong.status_code == 401
    version = api.request("GET", "/products", headers={"Sequence-Version": "2023-01-01"})
    assert version.status_code == 400
    assert version.json() == {
        "error": {
            "type": "UnrecognisedApiVersion",
            "message": "No matching API version found. Please make sure the specified API version is valid.",
        }
    }
    ok = api.request("GET", "/products", headers={"Sequence-Version": "2024-07-30"})
    assert ok.status_code == 200 and ok.headers["Sequence-Version"] == "2024-07-30"


def test_idempotency_key_replays_and_conflicts(api: Api) -> None:
    body = {"name": "Once"}
    first = api.request("POST", "/products", body, headers={"Idempotency-Key": "k-1"})
    again = api.request("POST", "/products", body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert _ok(api.get("/products"), 200)["pagination"]["totalResultSize"] == 1
    different = api.request("POST", "/products", {"name": "Twice"}, headers={"Idempotency-Key": "k-1"})
    assert different.status_code == 422 and different.json()["error"]["type"] == "idempotencyKeyReused"
    too_long = api.request("POST", "/products", body, headers={"Idempotency-Key": "k" * 256})
    assert too_long.status_code == 400
    failed = api.request("POST", "/products", {"name": ""}, headers={"Idempotency-Key": "k-2"})
    assert failed.status_code == 400
    retried = api.request("POST", "/products", {"name": "Fixed"}, headers={"Idempotency-Key": "k-2"})
    assert retried.status_code == 201, "a failed request stores nothing and may be retried under the same key"


def test_pagination_cursors_and_limits(api: Api) -> None:
    created = [_ok(api.post("/products", {"name": f"p{i}"}))["id"] for i in range(5)]
    page = _ok(api.get("/products?limit=2&sortOrder=ASC"), 200)
    assert [p["id"] for p in page["items"]] == created[:2]
    assert "before" not in page["pagination"] and page["pagination"]["totalResultSize"] == 5
    second = _ok(api.get(f"/products?limit=2&sortOrder=ASC&after={page['pagination']['after']}"), 200)
    assert [p["id"] for p in second["items"]] == created[2:4]
    back = _ok(api.get(f"/products?limit=2&sortOrder=ASC&before={second['pagination']['before']}"), 200)
    assert [p["id"] for p in back["items"]] == created[:2]
    last = _ok(api.get(f"/products?limit=2&sortOrder=ASC&after={second['pagination']['after']}"), 200)
    assert [p["id"] for p in last["items"]] == created[4:] and "after" not in last["pagination"]
    newest_first = _ok(api.get("/products"), 200)
    assert [p["id"] for p in newest_first["items"]] == created[::-1]
    for bad in ("limit=0", "limit=101", "limit=x", "after=%%%", "sortOrder=UP", "sortBy=NAME", "after=a&before=b"):
        response = api.get(f"/products?{bad}")
        assert response.status_code == 400, bad
        assert response.json()["error"]["type"] == "validationError"


def test_pagination_by_a_nullable_sort_key_visits_every_row_once(api: Api) -> None:
    """Manual invoices may have no accountingDate: NULL sorts last ascending and first descending, and the
    cursors page across the NULLs both ways."""
    customer = _ok(api.post("/customers", {"legalName": "Pager Ltd", "address": ADDRESS}))
    dates = ["2024-01-05", None, "2024-01-03", None, None, "2024-01-05"]
    made = []
    for day in dates:
        body: dict[str, Any] = {"customerId": customer["id"], "currency": "GBP"}
        if day:
            body["accountingDate"] = day
        made.append((day, _ok(api.post("/invoices", body))["id"]))
    ascending = [i for _, i in sorted((d or "9999", i) for d, i in made)]
    descending = ascending[::-1]
    for order, expected in (("ASC", ascending), ("DESC", descending)):
        seen: list[str] = []
        url = f"/invoices?customerId={customer['id']}&sortBy=ACCOUNTING_DATE&sortOrder={order}&limit=2"
        page = _ok(api.get(url), 200)
        seen += [p["id"] for p in page["items"]]
        while page["pagination"].get("after"):
            page = _ok(api.get(f"{url}&after={page['pagination']['after']}"), 200)
            seen += [p["id"] for p in page["items"]]
        assert seen == expected, order
        back: list[str] = []
        while page["pagination"].get("before"):
            page = _ok(api.get(f"{url}&before={page['pagination']['before']}"), 200)
            back = [p["id"] for p in page["items"]] + back
        assert back == expected[: len(back)] and len(back) == len(expected) - 2, order


def test_bad_input_is_a_400_with_every_field(api: Api) -> None:
    response = api.post(
        "/billing-schedules",
        {
            "startDate": "not a date",
            "recurrenceDayOfMonth": 40,
            "phases": [
                {"priceIds": ["nope"], "startDate": "2024-01-01", "discounts": [{"type": "HALF", "amount": "-1"}]}
            ],
            "taxRates": "x",
        },
    )
    assert response.status_code == 400
    keys = {e["key"]: e["code"] for e in response.json()["error"]["errors"]}
    assert keys["customerId"] == "required" and keys["startDate"] == "invalidFormat"
    assert keys["recurrenceDayOfMonth"] == "outOfRange" and keys["taxRates"] == "invalidType"
    assert keys["phases[0].priceIds[0]"] == "unknownReference"
    assert keys["phases[0].discounts[0].type"] == "invalidEnum"
    assert keys["phases[0].discounts[0].message"] == "required"
    for path, payload in (("/products", b"[1, 2"), ("/products", b""), ("/prices", b'"just a string"')):
        bad = api.request("POST", path, raw=payload)
        assert bad.status_code == 400, (path, payload)
        assert bad.json()["error"]["type"] == "validationError"
    wrong_types = api.post("/customers", {"legalName": 5, "address": "here", "taxStatus": "taxed"})
    assert wrong_types.status_code == 400
    codes = {e["key"]: e["code"] for e in wrong_types.json()["error"]["errors"]}
    assert codes == {"legalName": "invalidType", "address": "invalidType", "taxStatus": "invalidEnum"}
    assert api.get("/products/not-a-uuid").status_code == 404
    assert api.get("/no-such-endpoint").status_code == 404
    assert json.loads(api.get("/no-such-endpoint").text)["error"]["type"] == "notFound"


def test_rate_limit_per_credential(api_base_url: str) -> None:
    limited = Api(api_base_url, create_account("limited", "--rate-limit", "3"))
    statuses: list[int] = []
    blocked = None
    # three pass, the fourth is refused; if the minute turns meanwhile, a new window lets three more pass
    for _ in range(10):
        response = limited.get("/products")
        if response.status_code == 429:
            blocked = response
            break
        statuses.append(response.status_code)
    assert statuses[:3] == [200, 200, 200] and len(statuses) <= 6, statuses
    assert blocked is not None and blocked.json()["error"]["type"] == "rateLimited"
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
