"""Sequence's own contract, checked on real data: every request example Sequence documents for prices,
customers, tax rates, usage metrics and billing schedules succeeds, and every response billrun serves on the
operations it shares with Sequence is one that a client generated from Sequence's spec accepts
(tests/sequence_contract.py, the repository's copy of the spec)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.sequence_contract import PRODUCT, request_examples, violations
from tests.sequence_world import World, build_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(app_client: TestClient) -> Iterator[World]:
    from billrun.store.accounts import create_account
    from billrun.store.db import unit_of_work

    with unit_of_work() as session:
        new = create_account(session, f"contract-{uuid.uuid4().hex[:8]}", rate_limit_per_minute=0)
    app_client.auth = (new.api_key, new.api_secret)
    yield build_world(app_client)


def test_every_documented_request_example_succeeds(world: World) -> None:
    """The fixture made every object from Sequence's examples (a failure there names the example); here the
    examples' values are checked to have been kept, not dropped."""
    price = world.call("GET", "/prices/{id}", f"/prices/{world.ids['price']}")
    assert price["listPriceId"] == "b4d7e884-e007-4183-8355-4771865c5100"
    assert price["customMetricParameters"] == [{"parameterId": "94703530-1293-479b-bd37-ccad42fd9c8b", "value": "10"}]
    schedule = world.call("GET", "/billing-schedules/{id}", f"/billing-schedules/{world.ids['schedule']}")
    (update,) = request_examples(PRODUCT, "put", "/billing-schedules/{billingScheduleId}")  # the last write
    assert schedule["phases"][0]["listPriceIds"] == update["phases"][0]["listPriceIds"]
    assert schedule["phases"][0]["externalContractRef"] == update["phases"][0]["externalContractRef"]
    assert schedule["endDate"] == update["endDate"] and schedule["autoIssueInvoices"] is True
    contacts = world.call("GET", "/customers/{id}/contacts", f"/customers/{world.ids['customer']}/contacts")
    assert world.ids["contact"] in {c["id"] for c in contacts["items"]}, "a PUT of the customer keeps contact ids"


def test_a_manual_lines_tax_rate_is_honoured(world: World) -> None:
    """Sequence's line example (2 x 20000.10 at taxRate 0.2) used to be stored at 0% and go out untaxed."""
    line = world.call("GET", "/invoices/{id}/line-items", f"/invoices/{world.ids['manual']}/line-items")["items"][0]
    assert (line["taxRate"], line["netTotal"], line["totalTax"], line["grossTotal"]) == (
        "0.2",
        "40000.20",
        "8000.04",
        "48000.24",
    )
    assert line["groupId"] == world.ids["group"] and line["externalIds"] == [{"key": "Xero", "value": "123"}]
    invoice = world.call("GET", "/invoices/{id}", f"/invoices/{world.ids['manual']}")
    assert (invoice["netTotal"], invoice["totalTax"], invoice["grossTotal"]) == ("40000.20", "8000.04", "48000.24")
    assert invoice["dueDate"] == "2022-09-30" and invoice["dueDateSource"] == "MANUAL"
    assert invoice["metadata"] == [{"key": "example-label", "value": "label-value"}]
    assert invoice["customerShippingAddress"]["town"] == "Springfield"
    group = world.call("GET", "/invoices/{id}/line-item-groups", f"/invoices/{world.ids['manual']}/line-item-groups")
    assert [g["grossTotal"] for g in group["items"]] == ["48000.24"]


def test_every_response_is_what_sequences_schema_promises(world: World) -> None:
    ids = world.ids
    for template, path in [
        ("/products", "/products"),
        ("/products/{id}", f"/products/{ids['product']}"),
        ("/usage-metrics", "/usage-metrics"),
        ("/usage-metrics/{id}", f"/usage-metrics/{ids['metric']}"),
        ("/seat-metrics", "/seat-metrics"),
        ("/seat-metrics/{id}", f"/seat-metrics/{ids['seat_metric']}"),
        ("/tax-rates", "/tax-rates"),
        ("/tax-rates/{id}", f"/tax-rates/{ids['tax_rate']}"),
        ("/prices", "/prices"),
        ("/prices/{id}", f"/prices/{ids['price']}"),
        ("/customers", "/customers"),
        ("/customers/{id}", f"/customers/{ids['customer']}"),
        ("/customers/by-alias/{alias}", f"/customers/by-alias/{ids['alias']}"),
        ("/customers/{id}/aliases", f"/customers/{ids['customer']}/aliases"),
        ("/customer-aliases", "/customer-aliases"),
        ("/billing-schedules", "/billing-schedules"),
        ("/billing-schedules/{id}", f"/billing-schedules/{ids['schedule']}"),
        ("/billing-schedules/{id}/billing-runs", f"/billing-schedules/{ids['schedule']}/billing-runs"),
        ("/billing-runs", "/billing-runs"),
        ("/billing-runs/{id}", f"/billing-runs/{ids['run']}"),
        ("/invoices", "/invoices"),
        ("/invoices/{id}", f"/invoices/{ids['invoice']}"),
        ("/invoices/{id}/line-items", f"/invoices/{ids['invoice']}/line-items"),
        ("/invoices/{id}/line-item-groups", f"/invoices/{ids['invoice']}/line-item-groups"),
        ("/invoices/{id}", f"/invoices/{ids['manual']}"),
        ("/invoices/{id}/line-items", f"/invoices/{ids['manual']}/line-items"),
        ("/invoices/{id}/line-item-groups", f"/invoices/{ids['manual']}/line-item-groups"),
        ("/customers/{id}/contacts", f"/customers/{ids['customer']}/contacts"),
        ("/tax-rates/{id}/versions", f"/tax-rates/{ids['tax_rate']}/versions"),
        ("/usage-events", "/usage-events"),
        ("/seat-events", "/seat-events"),
        ("/seat-balances", "/seat-balances"),
        ("/time-travellers", "/time-travellers"),
        ("/time-travellers/{id}", f"/time-travellers/{ids['traveller']}"),
        ("/usage-events/{id}", f"/usage-events/{ids['usage_event']}"),
        ("/seat-events/{id}", f"/seat-events/{ids['seat_event']}"),
    ]:
        world.call("GET", template, path)
    world.call("POST", "/billing-runs/{id}/invoice-preview", f"/billing-runs/{ids['run']}/invoice-preview")
    problems = [
        f"{method} {template} {status}: {problem}"
        for method, template, status, body in world.seen
        for problem in violations(method, template, status, body)
    ]
    assert problems == [], "\n".join(problems)
