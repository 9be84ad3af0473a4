"""Hostile and malformed requests against the real server: never a 500, never a slow answer, nothing stored.

Regression tests name each way the edge used to fail (a 500 or a hung process); the sweep at the end sends
hostile values into every body field, path and query parameter of every operation in billrun's OpenAPI and
asserts no answer >= 500 and none slower than 10 s (a liveness bound, not a benchmark).
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Api, create_account

pytestmark = pytest.mark.e2e
ADDRESS = {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"}
LIVENESS_SECONDS = 10

# raw JSON texts: several are not expressible as Python values (NaN, a lone surrogate)
HOSTILE_JSON = [
    "1e999999999",
    "-1e999999999",
    "1e400",
    "9" * 5000,
    str(2**63),
    "NaN",
    "Infinity",
    "-Infinity",
    '"\\ud800"',
    '"a\\u0000b"',
    '"' + "9" * 400 + '"',
    '"1e999999999"',
    '"0001-01-01T00:00:00Z"',
    '"9999-12-31T23:59:59Z"',
    '"10000-01-01"',
    "[" * 40 + "]" * 40,
    "null",
    "true",
    '{"a": 1}',
    '"x"',
]
HOSTILE_PATH = ["a%00b", "%ED%A0%80", "9" * 400, "1e999999999", "..%2F..%2Fetc", "%FF"]


def _raw(api: Api, method: str, path: str, text: str | None, params: str = "") -> httpx.Response:
    started = time.monotonic()
    response = api.client.request(
        method,
        path + (f"?{params}" if params else ""),
        content=None if text is None else text.encode("utf-8", "surrogatepass"),
        headers={"content-type": "application/json"},
    )
    elapsed = time.monotonic() - started
    assert elapsed < LIVENESS_SECONDS, (method, path, text and text[:80], elapsed)
    assert response.status_code < 500, (method, path, text and text[:80], response.text[:300])
    return response


def _codes(response: httpx.Response) -> dict[str, str]:
    return {e["key"]: e["code"] for e in response.json()["error"].get("errors", [])}


def _price_body(product_id: str, amount: str) -> str:
    return (
        '{"name": "P", "productId": "' + product_id + '", "currency": "GBP", "billingFrequency": "MONTHLY",'
        ' "billingType": "IN_ARREARS", "structure": {"pricingType": "FIXED", "price": ' + amount + "}}"
    )


def test_a_huge_exponent_is_refused_at_once_and_never_stored(api: Api) -> None:
    product = api.post("/products", {"name": "P"}).json()
    for amount in ("1e999999999", "1e400", '"1e999999999"', '"' + "9" * 400 + '"'):
        answer = _raw(api, "POST", "/prices", _price_body(product["id"], amount))
        assert answer.status_code == 400, answer.text
    assert api.get("/prices").json()["pagination"]["totalResultSize"] == 0
    for total in ("1e999999999", str(2**63), "9" * 5000, "NaN"):
        body = '{"customerAlias": "c", "seatType": "editor", "eventTimestamp": "2024-01-01T00:00:00Z", "total": '
        answer = _raw(api, "POST", "/seat-events", body + total + "}")
        assert answer.status_code == 400, (total, answer.text)
    schedule = '{"customerId": "x", "startDate": "2024-01-01", "recurrenceDayOfMonth": 1e999999999, "phases": []}'
    assert _raw(api, "POST", "/billing-schedules", schedule).status_code == 400


def test_unicode_nul_depth_and_size(api: Api) -> None:
    answer = _raw(api, "POST", "/products", '{"name": "\\ud800"}')
    assert answer.status_code == 400 and _codes(answer) == {"name": "invalidFormat"}
    assert _raw(api, "POST", "/products", '{"name": "a\\u0000"}').status_code == 400
    assert _raw(api, "POST", "/products", "[" * 1500 + "]" * 1500).status_code == 400
    assert _raw(api, "POST", "/products", '{"name": ' + "[" * 100 + "]" * 100 + "}").status_code == 400
    assert _raw(api, "GET", "/customers/by-alias/a%00b", None).status_code == 400
    assert _raw(api, "GET", "/seat-balances", None, "customerAliases=a%00b").status_code == 400
    big = '{"name": "' + "x" * (1024 * 1024) + '"}'
    assert _raw(api, "POST", "/products", big).status_code == 413
    assert api.get("/products").json()["pagination"]["totalResultSize"] == 0


def test_dates_outside_the_calendar(api: Api) -> None:
    for stamp in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59+00:00", "0000-01-01T00:00:00Z"):
        event = {"customerAlias": "c", "eventType": "e", "eventTimestamp": stamp}
        answer = api.post("/usage-events", event)
        assert answer.status_code == 400 and _codes(answer) == {"eventTimestamp": "invalidTimestamp"}


def test_forged_and_foreign_cursors_are_invalid_format(api: Api) -> None:
    for i in range(3):
        api.post("/products", {"name": f"P{i}"})
        api.post(
            "/tax-rates", {"name": f"T{i}", "invoiceName": "T", "invoiceShortName": "T", "amount": "0", "country": "GB"}
        )
    products_cursor = api.get("/products?limit=1").json()["pagination"]["after"]
    assert api.get(f"/products?limit=1&after={products_cursor}").status_code == 200
    forged = [
        products_cursor,  # another list's cursor
        base64.urlsafe_b64encode(json.dumps(["x", "2024-01-01", str(uuid.uuid4())]).encode()).decode(),
        base64.urlsafe_b64encode(b'["a", 1]').decode(),
        "not-base64!!",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ]
    for cursor in forged:
        for path in ("/tax-rates", "/customers", "/invoices", "/usage-events"):
            answer = api.get(f"{path}?after={cursor}")
            assert answer.status_code == 400, (path, cursor, answer.text)
            assert _codes(answer) == {"after": "invalidFormat"}


def test_another_accounts_ids_in_a_line_are_unknown_references(api: Api, api_base_url: str) -> None:
    """A manual line naming another account's tax rate or price: 400, never a silently dropped reference."""
    other = Api(api_base_url, create_account("other-account"))
    foreign_tax = other.post(
        "/tax-rates", {"name": "T", "invoiceName": "T", "invoiceShortName": "T", "amount": "0.2", "country": "GB"}
    ).json()
    customer = api.post("/customers", {"legalName": "C", "address": ADDRESS}).json()
    invoice = api.post("/invoices", {"customerId": customer["id"], "currency": "GBP"})
    assert invoice.status_code == 201, invoice.text
    line = {"title": "x", "quantity": "1", "rate": "10", "taxRateId": foreign_tax["id"]}
    answer = api.post(f"/invoices/{invoice.json()['id']}/line-items", line)
    assert answer.status_code == 400, answer.text
    assert _codes(answer) == {"taxRateId": "unknownReference"}
    other.client.close()


def test_failed_authentication_is_rate_limited_before_hashing(api: Api, api_base_url: str) -> None:
    assert api.get("/products").status_code == 200  # a verified secret: never slowed by the limiter
    credentials = create_account("victim")
    statuses = []
    with httpx.Client(base_url=api_base_url, timeout=30) as attacker:
        for n in range(14):
            wrong = httpx.BasicAuth(credentials["apiKey"], f"wrong-{n}")
            statuses.append(attacker.get("/products", auth=wrong).status_code)
        started = time.monotonic()
        refused = attacker.get("/products", auth=httpx.BasicAuth(credentials["apiKey"], "again"))
        assert time.monotonic() - started < 0.5  # no scrypt ran
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        nul = attacker.get("/products", auth=httpx.BasicAuth(credentials["apiKey"], credentials["apiSecret"] + "\x00"))
        assert nul.status_code in (401, 429)
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    assert api.get("/products").status_code == 200


def _operations(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    spec = api.client.get("/openapi.json").json()
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method.upper(), path.removeprefix("/api"), operation))
    return found


def _body_fields(operation: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = content.get("schema", {})
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return sorted(schema.get("properties", {}))[:12]


def test_hostile_values_in_every_field_path_and_query_of_every_operation(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    sent = 0
    for method, path, operation in _operations(api):
        template = re.sub(r"\{[^}]+\}", "{}", path)
        holes = template.count("{}")
        for value in HOSTILE_PATH:
            _raw(api, method, template.format(*([value] * holes)), None if method in ("GET", "DELETE") else "{}")
            sent += 1
        concrete = template.format(*([str(uuid.uuid4())] * holes))
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "query":
                for value in HOSTILE_PATH:
                    _raw(api, method, concrete, None, f"{parameter['name']}={value}")
                    sent += 1
        if method in ("POST", "PUT", "PATCH"):
            fields = _body_fields(operation, spec) or ["name"]
            for field in fields:
                for value in HOSTILE_JSON:
                    _raw(api, method, concrete if holes else path, "{" + json.dumps(field) + ": " + value + "}")
                    sent += 1
            for value in HOSTILE_JSON:
                _raw(api, method, concrete if holes else path, value)
                sent += 1
    assert sent > 1000


def _hostile_values() -> Any:
    """Hypothesis strategies for the categories of the hostile-input issue, as raw JSON text."""
    from hypothesis import strategies as st

    digits = st.integers(1, 6000).map(lambda n: "9" * n)
    exponent = st.integers(-(10**9), 10**9).map(lambda e: f"1e{e}")
    numbers = st.one_of(digits, exponent, st.sampled_from(["NaN", "Infinity", "-Infinity", str(2**63), "-0"]))
    surrogate = st.integers(0xD800, 0xDFFF).map(lambda c: f'"x\\u{c:04x}y"')
    nul = st.text(max_size=20).map(lambda t: json.dumps(t + "\x00" + t))
    stamps = st.sampled_from(["0001", "0000", "9999", "10000", "2024"]).map(lambda y: f'"{y}-01-01T00:00:00Z"')
    deep = st.integers(30, 3000).map(lambda n: "[" * n + "]" * n)
    long_text = st.integers(100_001, 200_000).map(lambda n: '"' + "x" * n + '"')
    return st.one_of(numbers, surrogate, nul, stamps, deep, long_text, st.sampled_from(HOSTILE_JSON))


def test_hypothesis_hostile_values_into_random_fields(api: Api) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    spec = api.client.get("/openapi.json").json()
    targets = [
        (method, re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path), field)
        for method, path, operation in _operations(api)
        if method in ("POST", "PUT", "PATCH")
        for field in _body_fields(operation, spec) or ["name"]
    ]

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(target=st.sampled_from(targets), value=_hostile_values(), nested=st.booleans())
    def probe(target: tuple[str, str, str], value: str, nested: bool) -> None:
        method, path, field = target
        inner = "{" + json.dumps(field) + ": " + value + "}"
        _raw(api, method, path, '{"items": [' + inner + "]}" if nested else inner)

    probe()
