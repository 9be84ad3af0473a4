"""A world made from Sequence's own documented request examples (tests/acceptance/sequence-openapi/), with
its made-up ids replaced by real ones: the data the contract tests read back and check against Sequence's
schema, in-process (integration) and over HTTP (e2e)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from billrun.billing import triggers
from billrun.billing.execution import execute_run
from tests.sequence_contract import PRODUCT, request_examples

ADDRESS = {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"}


def substitute(value: Any, ids: dict[str, str]) -> Any:
    """An example with each of Sequence's made-up ids replaced by the id of a real object."""
    if isinstance(value, dict):
        return {k: substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, ids) for v in value]
    return ids.get(value, value) if isinstance(value, str) else value


#: Sequence examples that billrun refuses, each with the (key, code) of every error it answers and why:
#: - a SEAT_BASED price billed MONTHLY whose overages are billed YEARLY: SPEC §2.4 lets overages be billed only
#:   as often as the price or more often (their months must divide the billing frequency's).
REFUSED_PRICE_EXAMPLES = {"SEAT_BASED": {("structure.overagesBillingFrequency", "outOfRange")}}
#: - credit grants would lower the invoices; kept without being applied they would overbill (SPEC §9);
#: - the second phase has no prices but a minimum restricted to a price it does not hold: that minimum has no
#:   billing frequency to follow nor a tax rate (SPEC §4.9) and could never bill, so it is refused, not ignored.
REFUSED_SCHEDULE_EXAMPLE = {
    ("phases[0].creditGrants", "unsupported"),
    ("phases[1].minimums[0].restrictToPrices", "unknownReference"),
}


def _keys(error: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["key"], e["code"]) for e in error["error"]["errors"]}


@dataclass
class World:
    """Objects made from Sequence's examples, and every response seen while making and reading them."""

    client: httpx.Client
    ids: dict[str, str] = field(default_factory=dict)
    seen: list[tuple[str, str, int, Any]] = field(default_factory=list)
    refusals: list[Any] = field(default_factory=list)

    def call(self, method: str, template: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.client.request(method, path, json=body)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text[:600]}"
        payload = response.json()
        self.seen.append((method, template, response.status_code, payload))
        return payload


def build_world(client: httpx.Client) -> World:
    """Every object Sequence's examples describe, made through ``client`` (authenticated, based at /api), with
    one billing run executed."""
    w = World(client)
    (product_example,) = request_examples(PRODUCT, "post", "/products")
    product = w.call("POST", "/products", "/products", product_example, 201)
    (metric_example,) = request_examples(PRODUCT, "post", "/usage-metrics")
    metric = w.call("POST", "/usage-metrics", "/usage-metrics", metric_example, 201)
    (seat_example,) = request_examples(PRODUCT, "post", "/seat-metrics")
    seat_metric = w.call("POST", "/seat-metrics", "/seat-metrics", seat_example, 201)
    (tax_rate_example,) = request_examples(PRODUCT, "post", "/tax-rates")
    tax_rate = w.call("POST", "/tax-rates", "/tax-rates", tax_rate_example, 201)
    # The example rate is unpublished; a schedule needs a published one (SPEC §2.10).
    published = w.call("POST", "/tax-rates", "/tax-rates", {**tax_rate_example, "isPublished": True}, 201)
    w.ids.update(product=product["id"], metric=metric["id"], seat_metric=seat_metric["id"], tax_rate=tax_rate["id"])

    # The prices' usageMetricId names a metric the spec does not show; percentage tiers with per-event
    # bounds need a SUM metric (SPEC §4.6), so it is one.
    summed = w.call(
        "POST",
        "/usage-metrics",
        "/usage-metrics",
        {**metric_example, "name": "Message length", "aggregationType": "SUM"},
        201,
    )
    made_up = {
        "d07037d5-3e31-4c3a-a360-e58555e2bf44": product["id"],
        "04c62961-04ba-48e6-b985-758bb7d3e712": summed["id"],
        "bc61d4b8-e9d6-4f4a-9bcf-f5dae874c730": seat_metric["id"],
    }
    prices = []
    for example in request_examples(PRODUCT, "post", "/prices"):
        refused = REFUSED_PRICE_EXAMPLES.get(example["structure"]["pricingType"])
        if refused is None:
            prices.append(w.call("POST", "/prices", "/prices", substitute(example, made_up), 201))
        else:
            w.refusals.append(w.call("POST", "/prices", "/prices", substitute(example, made_up), 400))
            assert _keys(w.refusals[-1]) == refused
    fixed = next(p for p in prices if p["structure"]["pricingType"] == "FIXED")
    w.ids.update(price=fixed["id"])

    parent = w.call("POST", "/customers", "/customers", {"legalName": "Parent Ltd", "address": ADDRESS}, 201)
    customer_example = request_examples(PRODUCT, "post", "/customers")[0]
    customer = w.call(
        "POST",
        "/customers",
        "/customers",
        substitute(
            customer_example,
            {
                "50af5191-05a3-42a5-802a-6b59091157af": parent["id"],
                customer_example["customerAliases"][0]: f"alias-{uuid.uuid4().hex[:8]}",
            },
        ),
        201,
    )
    w.ids.update(customer=customer["id"], alias=customer["customerAliases"][0])

    (schedule_example,) = request_examples(PRODUCT, "post", "/billing-schedules")
    schedule_example = substitute(
        schedule_example,
        {
            "cca32597-b6b0-4499-9669-128aef8702e4": customer["id"],
            "bc61d4b8-e9d6-4f4a-9bcf-f5dae874c730": fixed["id"],
            "6dc54805-0ac8-4f17-9341-4d3f2db9dcd8": fixed["id"],
            "9fe9986b-e205-42b7-a58f-42845c91f03f": fixed["id"],
            "0199ca89-2d9e-7e3d-914c-7de86e8fc7ce": fixed["id"],
            "50c0d53b-8460-41e6-b4e9-a4e157fc1a64": published["id"],
            "179d1ab3-cc96-48e2-9310-067b0b42d47c": published["id"],
        },
    )
    w.refusals.append(w.call("POST", "/billing-schedules", "/billing-schedules", schedule_example, 400))
    assert _keys(w.refusals[-1]) == REFUSED_SCHEDULE_EXAMPLE
    # Without the two parts billrun refuses, the rest of the example is accepted and kept.
    del schedule_example["phases"][0]["creditGrants"]
    del schedule_example["phases"][1]["minimums"]
    schedule = w.call("POST", "/billing-schedules", "/billing-schedules", schedule_example, 201)
    w.ids.update(schedule=schedule["id"])
    activated = w.call("PUT", "/billing-schedules/{id}/activate", f"/billing-schedules/{schedule['id']}/activate")
    assert activated["status"] == "ACTIVE"
    _, (run_id, *_) = triggers.execute_schedule(uuid.UUID(schedule["id"]), dt.date(2022, 2, 1), queue=False)
    assert execute_run(run_id).status == "COMPLETED"
    w.ids.update(run=str(run_id))
    (invoice,) = w.call("GET", "/invoices", f"/invoices?billingScheduleId={schedule['id']}")["items"]
    w.ids.update(invoice=invoice["id"])
    _events_and_manual_invoice(w, customer, schedule, fixed)
    _deletions(w, fixed, customer)
    _update_examples(w, {**made_up, "50af5191-05a3-42a5-802a-6b59091157af": parent["id"]}, published["id"])
    return w


def _update_examples(w: World, made_up: dict[str, str], tax_rate: str) -> None:
    """Sequence's PUT examples, each applied to the object of its kind (one refused part, as on create)."""
    ids = w.ids
    targets = {
        "/products/{id}": ids["product"],
        "/seat-metrics/{id}": ids["seat_metric"],
        "/usage-metrics/{id}": ids["metric"],
        "/tax-rates/{id}": ids["tax_rate"],
        "/prices/{id}": ids["price"],
        "/customer-aliases/{id}": ids["alias_id"],
    }
    for template, target in targets.items():
        (example,) = request_examples(PRODUCT, "put", template)
        w.call("PUT", template, template.replace("{id}", target), example)
    (customer_update,) = request_examples(PRODUCT, "put", "/customers/{id}")
    customer_update = substitute(customer_update, {**made_up, customer_update["customerAliases"][0]: ids["alias"]})
    w.call("PUT", "/customers/{id}", f"/customers/{ids['customer']}", customer_update)
    (schedule_update,) = request_examples(PRODUCT, "put", "/billing-schedules/{billingScheduleId}")
    schedule_update = substitute(
        schedule_update,
        {
            "bc61d4b8-e9d6-4f4a-9bcf-f5dae874c730": ids["price"],
            "50c0d53b-8460-41e6-b4e9-a4e157fc1a64": tax_rate,
            "179d1ab3-cc96-48e2-9310-067b0b42d47c": tax_rate,
        },
    )
    schedule_path = f"/billing-schedules/{ids['schedule']}"
    refused = w.call("PUT", "/billing-schedules/{id}", schedule_path, schedule_update, 400)
    assert {(e["key"], e["code"]) for e in refused["error"]["errors"]} == {("phases[0].creditGrants", "unsupported")}
    del schedule_update["phases"][0]["creditGrants"]
    w.call("PUT", "/billing-schedules/{id}", schedule_path, schedule_update)
    line_path = f"/invoices/{ids['manual']}/line-items/{ids['line']}"
    (line_update,) = request_examples(PRODUCT, "put", "/invoices/{invoice}/line-items/{id}")
    line_ids = {
        "cd11218d-fa00-4faa-8684-a43113d076a8": ids["group"],
        "fe2fcd0b-4c53-45c7-b2ae-b6c1a7d21e95": ids["price"],
    }
    w.call("PUT", "/invoices/{id}/line-items/{id}", line_path, substitute(line_update, line_ids))
    (group_update,) = request_examples(PRODUCT, "put", "/invoices/{invoice}/line-item-groups/{id}")
    w.call(
        "PUT",
        "/invoices/{id}/line-item-groups/{id}",
        f"/invoices/{ids['manual']}/line-item-groups/{ids['group']}",
        group_update,
    )
    (contact_update,) = request_examples(PRODUCT, "put", "/customers/{customer}/contacts/{id}")
    contact_path = f"/customers/{ids['customer']}/contacts/{ids['contact']}"
    w.call("PUT", "/customers/{id}/contacts/{id}", contact_path, {**contact_update, "billingPreference": "STANDARD"})


def _deletions(w: World, price: Any, customer: Any) -> None:
    """One throwaway object of each kind that can be deleted, deleted (DELETE answers with the object)."""
    copy = {k: price[k] for k in ("name", "productId", "currency", "structure", "billingFrequency", "billingType")}
    made = {
        "/prices/{id}": w.call("POST", "/prices", "/prices", copy, 201),
        "/usage-metrics/{id}": w.call(
            "POST",
            "/usage-metrics",
            "/usage-metrics",
            {"name": "Throwaway", "metricType": "SIMPLE", "eventType": "x", "aggregationType": "COUNT"},
            201,
        ),
        "/seat-metrics/{id}": w.call(
            "POST", "/seat-metrics", "/seat-metrics", {"seatType": "throwaway", "label": "Throwaway"}, 201
        ),
        "/tax-rates/{id}": w.call(
            "POST",
            "/tax-rates",
            "/tax-rates",
            {"name": "T", "invoiceName": "T", "invoiceShortName": "T", "amount": "0.1", "country": "GB"},
            201,
        ),
        "/customer-aliases/{id}": w.call(
            "POST", "/customer-aliases", "/customer-aliases", {"customerId": customer["id"], "value": "throwaway"}, 201
        ),
        "/invoices/{id}": w.call(
            "POST", "/invoices", "/invoices", {"customerId": customer["id"], "currency": "GBP"}, 201
        ),
    }
    for template, thing in made.items():
        deleted = w.call("DELETE", template, template.replace("{id}", thing["id"]))
        assert deleted["id"] == thing["id"]
    line = w.call(
        "POST",
        "/invoices/{id}/line-items",
        f"/invoices/{w.ids['manual']}/line-items",
        {"title": "Throwaway", "quantity": "1", "rate": "1"},
        201,
    )
    w.call("DELETE", "/invoices/{id}/line-items/{id}", f"/invoices/{w.ids['manual']}/line-items/{line['id']}")


def _events_and_manual_invoice(w: World, customer: Any, schedule: Any, price: Any) -> None:
    """Sequence's event, invoice, line, group and contact examples, and its update examples."""
    alias = {
        "customer-id-2H4u5BBwBWsS5V2sroRFqJfTXpW": customer["customerAliases"][0],
        "event-id-H4twuTWpYx1rkd8OMTki2hTUcZ": f"event-{uuid.uuid4().hex[:8]}",
    }
    for path, key in (("/usage-events", "usage_event"), ("/seat-events", "seat_event")):
        (example,) = request_examples(PRODUCT, "post", path)
        w.ids[key] = w.call("POST", path, path, substitute(example, alias), 201)["id"]
    (contact,) = request_examples(PRODUCT, "post", "/customers/{customer}/contacts")
    contacts = f"/customers/{customer['id']}/contacts"
    made = w.call("POST", "/customers/{id}/contacts", contacts, {**contact, "billingPreference": "STANDARD"}, 201)
    traveller = w.call("POST", "/time-travellers", "/time-travellers", {"frozenTime": "2022-01-01T00:00:00Z"}, 201)
    (alias_row,) = w.call("GET", "/customers/{id}/aliases", f"/customers/{customer['id']}/aliases")["items"]
    w.ids.update(contact=made["id"], traveller=traveller["id"], alias_id=alias_row["id"])
    (invoice_example,) = request_examples(PRODUCT, "post", "/invoices")
    manual = w.call(
        "POST",
        "/invoices",
        "/invoices",
        substitute(
            invoice_example,
            {
                "fe2fcd0b-4c53-45c7-b2ae-b6c1a7d21e95": schedule["id"],
                "61b083e0-1faa-47ca-9aeb-6205da8f6c47": customer["id"],
            },
        ),
        201,
    )
    w.ids.update(manual=manual["id"])
    (group_example,) = request_examples(PRODUCT, "post", "/invoices/{invoice}/line-item-groups")
    groups = f"/invoices/{manual['id']}/line-item-groups"
    group = w.call("POST", "/invoices/{id}/line-item-groups", groups, group_example, 201)
    (line_example,) = request_examples(PRODUCT, "post", "/invoices/{invoice}/line-items")
    line = w.call(
        "POST",
        "/invoices/{id}/line-items",
        f"/invoices/{manual['id']}/line-items",
        substitute(
            line_example,
            {"cd11218d-fa00-4faa-8684-a43113d076a8": group["id"], "fe2fcd0b-4c53-45c7-b2ae-b6c1a7d21e95": price["id"]},
        ),
        201,
    )
    w.ids.update(line=line["id"], group=group["id"])
    for method, template in (("put", "/invoices/{id}"), ("patch", "/invoices/{id}")):
        (update,) = request_examples(PRODUCT, method, template)
        w.call(method.upper(), template, f"/invoices/{manual['id']}", update)
