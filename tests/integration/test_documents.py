"""Invoice documents on PostgreSQL through the API: the HTML page (and ``Accept: text/html``), the PDF read
back with ``pdftotext``, the explanation of an invoice holding every pricing type (its numbers add up to every
stored line exactly) with the events of a line paged through, tenancy, and the page opened in headless
Chromium at desktop and phone widths with no horizontal overflow."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billrun.billing.execution import execute_run
from billrun.store import accounts
from billrun.store.db import unit_of_work
from tests.integration.test_exactly_once import materialize
from tests.unit.test_explanation import check_line

pytestmark = pytest.mark.integration

HOSTILE = '<script>alert("x")</script> & Sons'
CALLS = 150


def _tool(name: str) -> str:
    """A system tool these checks need (Debian's chromium, poppler-utils): .ci/run installs them and makes them
    required; a developer machine without them skips, and says which package to install."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("BILLRUN_REQUIRE_DOCUMENT_TOOLS"):
            raise AssertionError(f"{name} is required here (.ci/run installs it)")
        pytest.skip(f"{name} is not installed (Debian: apt-get install chromium poppler-utils)")
    return found


def _post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _seller(account_id: str, **settings: Any) -> None:
    with unit_of_work() as s:
        accounts.update_settings(s, uuid.UUID(account_id), settings)


def customer_schedule(
    client: TestClient, prices: list[dict[str, Any]], events: list[dict[str, Any]], name: str = HOSTILE, **phase: Any
) -> dict[str, Any]:
    """A customer on ``prices`` from 2024-01-01 (20% tax) with ``events`` posted: its schedule. The customer's
    name and first address line are hostile unless ``name`` is given."""
    line1 = "1 <b>Road</b>" if name == HOSTILE else "14 Canal Street"
    tax = _post(
        client,
        "/tax-rates",
        {"name": "VAT", "invoiceName": "VAT", "invoiceShortName": "VAT", "amount": "0.2", "country": "GB"},
    )
    customer = _post(
        client,
        "/customers",
        {
            "legalName": name,
            "address": {"line1": line1, "town": "London", "postcode": "AB1 2EF", "country": "GB"},
            "contacts": [{"name": "Pat", "email": "pat@example.com", "billingPreference": "PRIMARY"}],
        },
    )
    schedule = _post(
        client,
        "/billing-schedules",
        {
            "customerId": customer["id"],
            "startDate": "2024-01-01",
            "recurrenceDayOfMonth": 1,
            "taxRates": [{"priceId": p["id"], "taxRateId": tax["id"]} for p in prices],
            "phases": [{"priceIds": [p["id"] for p in prices], "startDate": "2024-01-01", **phase}],
        },
    )
    for event in events:
        body = {"customerAlias": customer["id"], **event}
        path = "/seat-events" if "seatType" in event else "/usage-events"
        assert client.post(path, json=body).status_code in (200, 201)
    return schedule


def bill_january(client: TestClient, schedule: dict[str, Any]) -> dict[str, Any]:
    """The schedule's 2024-02-01 run executed (a real run, in this process): the invoice it drafted."""
    (run_id, *_) = materialize(schedule["id"], dt.date(2024, 2, 1))
    assert execute_run(run_id).status == "COMPLETED"
    (invoice,) = client.get("/invoices", params={"billingScheduleId": schedule["id"]}).json()["items"]
    return dict(invoice)


def _bill(
    client: TestClient, prices: list[dict[str, Any]], events: list[dict[str, Any]], name: str = HOSTILE, **phase: Any
) -> dict[str, Any]:
    return bill_january(client, customer_schedule(client, prices, events, name, **phase))


def every_pricing_type_schedule(client: TestClient, name: str = HOSTILE) -> dict[str, Any]:
    """A schedule with a price of every type, discounts and a minimum, and January's usage and seats."""
    product = _post(client, "/products", {"name": "Platform"})
    api = _post(client, "/products", {"name": "API"})
    calls = _post(
        client,
        "/usage-metrics",
        {"name": "Calls", "eventType": "call", "aggregationType": "COUNT", "metricType": "SIMPLE"},
    )
    payments = _post(
        client,
        "/usage-metrics",
        {
            "name": "Payments",
            "eventType": "payment",
            "aggregationType": "SUM",
            "aggregationProperty": "amount",
            "metricType": "SIMPLE",
        },
    )
    seats = _post(client, "/seat-metrics", {"seatType": "editor", "label": "Editor"})
    tiers = [{"upperBound": "100", "price": "0.10", "fee": "5"}, {"upperBound": None, "price": "0.08"}]
    structures = [
        ("Platform fee", product, {"pricingType": "FIXED", "price": "500"}),
        ("Calls linear", api, {"pricingType": "LINEAR", "pricePerUnit": "0.013", "usageMetricId": calls["id"]}),
        (
            "Calls packages",
            api,
            {"pricingType": "PACKAGE", "packageSize": "40", "pricePerPackage": "2.5", "usageMetricId": calls["id"]},
        ),
        ("Calls volume", api, {"pricingType": "VOLUME", "usageMetricId": calls["id"], "tiers": tiers}),
        (
            "Calls graduated",
            api,
            {
                "pricingType": "GRADUATED",
                "usageMetricId": calls["id"],
                "usageCalculationMode": "CUMULATIVE",
                "tiers": tiers,
            },
        ),
        (
            "Payment fees",
            api,
            {
                "pricingType": "VOLUME",
                "usageMetricId": payments["id"],
                "tiers": [
                    {"upperBound": None, "price": "0.02", "isPricePercentage": True, "minPrice": "1", "maxPrice": "10"}
                ],
            },
        ),
        (
            "Editor seats",
            product,
            {
                "pricingType": "SEAT_BASED",
                "seatMetricId": seats["id"],
                "pricePerSeat": "15",
                "prorationStrategy": "PRORATE_INCREMENTS",
                "contractedMinimumSeats": 2,
            },
        ),
    ]
    prices = [
        _post(
            client,
            "/prices",
            {
                "name": name,
                "productId": owner["id"],
                "currency": "GBP",
                "structure": structure,
                "billingFrequency": "MONTHLY",
                "billingType": "IN_ARREARS",
            },
        )
        for name, owner, structure in structures
    ]
    events: list[dict[str, Any]] = [
        {
            "customerEventId": f"call-{i}",
            "eventType": "call",
            "eventTimestamp": f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
        }
        for i in range(CALLS)
    ]
    events += [
        {
            "customerEventId": f"pay-{i}",
            "eventType": "payment",
            "eventTimestamp": "2024-01-05T10:00:00Z",
            "eventProperties": {"amount": amount},
        }
        for i, amount in enumerate(["25", "100", "500"])
    ]
    events += [
        {"customerEventId": "seats-1", "seatType": "editor", "eventTimestamp": "2024-01-01T09:00:00Z", "total": 3},
        {"customerEventId": "seats-2", "seatType": "editor", "eventTimestamp": "2024-01-12T09:00:00Z", "total": 7},
    ]
    phase = {
        "discounts": [
            {
                "type": "PERCENTAGE",
                "amount": 10,
                "message": "Launch 10%",
                "separateLineItem": False,
                "restrictToPrices": [prices[0]["id"]],
            },
            {"type": "NOMINAL", "amount": 3, "message": "Goodwill", "separateLineItem": True, "restrictToPrices": []},
        ],
        "minimums": [{"amount": 2000, "restrictToPrices": []}],
    }
    return customer_schedule(client, prices, events, name, **phase)


def _every_pricing_type(client: TestClient, name: str = HOSTILE) -> dict[str, Any]:
    return bill_january(client, every_pricing_type_schedule(client, name))


@pytest.fixture
def every_type(app_client: TestClient, account: Any) -> dict[str, Any]:
    _seller(
        account["id"],
        legal_name="Billrun Demo Ltd",
        address="2 Market Street\nCambridge CB2 3QZ\nUnited Kingdom",
        tax_id="GB 123 4567 89",
    )
    return _every_pricing_type(app_client)


def test_the_html_invoice_shows_seller_customer_lines_and_totals_escaped(
    app_client: TestClient, every_type: dict[str, Any]
) -> None:
    page = app_client.get(f"/invoices/{every_type['id']}/html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Billrun Demo Ltd" in html and "GB 123 4567 89" in html and "Cambridge CB2 3QZ" in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Sons" in html and "<script>" not in html
    assert "1 &lt;b&gt;Road&lt;/b&gt;" in html and "pat@example.com" in html
    assert 'class="watermark"' in html and ">DRAFT<" in html
    gross = f"£{float(every_type['grossTotal']):,.2f}"
    assert f'id="gross-total">{gross}<' in html
    for line in app_client.get(f"/invoices/{every_type['id']}/line-items").json()["items"]:
        assert line["title"] in html
    assert "Launch 10%" in html and "Goodwill" in html and "VAT 20%" in html

    browser = app_client.get(f"/invoices/{every_type['id']}", headers={"Accept": "text/html,*/*;q=0.8"})
    assert browser.headers["content-type"].startswith("text/html") and browser.text == html
    for accept in ("application/json", "*/*", "application/json, text/html;q=0.5"):
        plain = app_client.get(f"/invoices/{every_type['id']}", headers={"Accept": accept})
        assert plain.json()["id"] == every_type["id"]


def test_locale_and_paper_size_come_from_the_account(app_client: TestClient, account: Any, tmp_path: Path) -> None:
    _seller(account["id"], locale="de-DE", paper_size="LETTER")
    product = _post(app_client, "/products", {"name": "Platform"})
    price = _post(
        app_client,
        "/prices",
        {
            "name": "Platform",
            "productId": product["id"],
            "currency": "EUR",
            "structure": {"pricingType": "FIXED", "price": "1234.5"},
            "billingFrequency": "MONTHLY",
            "billingType": "IN_ARREARS",
        },
    )
    invoice = _bill(app_client, [price], [])
    html = app_client.get(f"/invoices/{invoice['id']}/html").text
    assert 'id="net-total">1.234,50\xa0€<' in html and "size: letter" in html and 'lang="de"' in html
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(app_client.get(f"/invoices/{invoice['id']}/download").content)
    info = subprocess.run([_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "612 x 792 pts (letter)" in info, info


def test_the_pdf_reads_back_with_number_or_draft_customer_and_total(
    app_client: TestClient, every_type: dict[str, Any], tmp_path: Path
) -> None:
    pdftotext = _tool("pdftotext")
    response = app_client.get(f"/invoices/{every_type['id']}/download")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert f'filename="draft-{every_type["id"]}.pdf"' in response.headers["content-disposition"]
    (tmp_path / "invoice.pdf").write_bytes(response.content)
    text = subprocess.run(
        [pdftotext, "-layout", str(tmp_path / "invoice.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "DRAFT" in text and HOSTILE in text
    assert f"£{float(every_type['grossTotal']):,.2f}" in text
    info = subprocess.run(
        [_tool("pdfinfo"), str(tmp_path / "invoice.pdf")], capture_output=True, text=True, check=True
    ).stdout
    assert "(A4)" in info, info

    issued = app_client.post(f"/invoices/{every_type['id']}/finalize")
    assert issued.status_code == 200, issued.text
    number = issued.json()["invoiceNumber"]
    response = app_client.get(f"/invoices/{every_type['id']}/download")
    assert f'filename="{number}.pdf"' in response.headers["content-disposition"]
    (tmp_path / "final.pdf").write_bytes(response.content)
    text = subprocess.run(
        [pdftotext, str(tmp_path / "final.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert number in text and "DRAFT" not in text


def test_the_explanation_adds_up_to_every_line_and_pages_through_the_events(
    app_client: TestClient, every_type: dict[str, Any]
) -> None:
    invoice_id = every_type["id"]
    body = app_client.get(f"/invoices/{invoice_id}/explanation").json()
    stored = {line["id"]: line for line in app_client.get(f"/invoices/{invoice_id}/line-items").json()["items"]}
    assert body["matchesInvoice"] is True and len(body["lines"]) == len(stored)
    assert body["calculation"]["recomputed"]["grossTotal"] == every_type["grossTotal"]
    kinds = set()
    for line in body["lines"]:
        check_line(line, "GBP")
        kinds.add(line["kind"])
        assert (line["netTotal"], line["tax"]["amount"], line["grossTotal"]) == (
            stored[line["id"]]["netTotal"],
            stored[line["id"]]["totalTax"],
            stored[line["id"]]["grossTotal"],
        )
    assert {"CHARGE", "TIER", "FLAT_FEE", "SEAT_BASELINE", "DISCOUNT", "MINIMUM_TRUE_UP"} <= kinds
    by_title = {line["title"]: line for line in body["lines"]}
    platform = by_title["Platform fee"]
    assert platform["price"]["structure"]["pricingType"] == "FIXED"
    assert platform["discounts"][0]["text"] == "10% of 500.00 = 50, rounded 50.00"
    assert platform["tax"]["text"].startswith("20% (version 0) of 450.00 = 90")
    assert platform["proration"]["text"] == "31/31 days of January 2024"
    graduated = by_title["Calls graduated — Tier 2"]
    assert graduated["reasons"] == ["units 100 to 150 of 150 fall in tier 2"]
    seats = next(line for line in body["lines"] if line["kind"].startswith("SEAT_") and line["quantity"] != "2")
    assert seats["seats"]["dailyMaxima"] == [
        {"from": "2024-01-01", "to": "2024-01-11", "seats": 3},
        {"from": "2024-01-12", "to": "2024-01-31", "seats": 7},
    ]

    linear = by_title["Calls linear"]
    assert linear["metric"]["name"] == "Calls" and linear["events"]["count"] == CALLS
    assert len(linear["events"]["first"]) == 100 and linear["events"]["verified"] is True
    assert linear["events"]["changedSince"] is False  # nothing received since the calculation
    seen = [event["customerEventId"] for event in linear["events"]["first"]]
    path, _, cursor = linear["events"]["next"].removeprefix("/api").partition("?after=")
    assert path == f"/invoices/{invoice_id}/lines/{linear['id']}/events"
    page = app_client.get(path, params={"after": cursor, "limit": 30}).json()
    while True:
        seen += [event["customerEventId"] for event in page["items"]]
        assert page["pagination"]["totalResultSize"] == CALLS
        if not page["pagination"].get("after"):
            break
        page = app_client.get(path, params={"after": page["pagination"]["after"], "limit": 30}).json()
    assert sorted(seen) == sorted(f"call-{i}" for i in range(CALLS))
    first = app_client.get(f"/invoices/{invoice_id}/lines/{linear['id']}/events", params={"limit": 5}).json()
    assert [e["customerEventId"] for e in first["items"]] == seen[:5] and "before" not in first["pagination"]
    assert all(e["value"] == "1" and e["eventTimestamp"].endswith("Z") for e in first["items"])
    assert (first["verified"], first["changedSince"]) == (True, False)

    fees = app_client.get(f"/invoices/{invoice_id}/lines/{by_title['Payment fees — Tier 1']['id']}/events").json()
    assert sorted(e["value"] for e in fees["items"]) == ["100", "25", "500"]
    fixed = app_client.get(f"/invoices/{invoice_id}/lines/{platform['id']}/events").json()
    assert fixed["items"] == [] and fixed["pagination"]["totalResultSize"] == 0
    bad = app_client.get(f"/invoices/{invoice_id}/lines/{linear['id']}/events", params={"after": "nonsense"})
    assert bad.status_code == 400 and bad.json()["error"]["errors"][0]["key"] == "after"

    page = app_client.get(f"/invoices/{invoice_id}/explanation", headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "units 100 to 150 of 150 fall in tier 2" in page.text and "&lt;script&gt;" not in page.text


def test_a_hand_added_line_is_explained_as_such(app_client: TestClient, every_type: dict[str, Any]) -> None:
    added = app_client.post(
        f"/invoices/{every_type['id']}/line-items",
        json={"title": "Consulting <i>", "quantity": "3", "rate": "0.335", "taxRate": "0.2"},
    )
    assert added.status_code == 201, added.text
    body = app_client.get(f"/invoices/{every_type['id']}/explanation").json()
    (manual,) = [line for line in body["lines"] if line["source"] == "MANUAL"]
    check_line(manual, "GBP")
    assert manual["rounding"]["text"] == "1.005 rounded half up to 2 decimal places = 1.01"
    assert body["matchesInvoice"] is True and "events" not in manual


def test_documents_keep_to_the_callers_account(app_client: TestClient, every_type: dict[str, Any]) -> None:
    invoice_id = every_type["id"]
    line_id = app_client.get(f"/invoices/{invoice_id}/line-items").json()["items"][0]["id"]
    paths = [
        f"/invoices/{invoice_id}/html",
        f"/invoices/{invoice_id}/download",
        f"/invoices/{invoice_id}/explanation",
        f"/invoices/{invoice_id}/lines/{line_id}/events",
    ]
    mine = app_client.auth
    with unit_of_work() as s:
        other = accounts.create_account(s, f"other-{uuid.uuid4().hex[:8]}", rate_limit_per_minute=0)
    try:
        app_client.auth = (other.api_key, other.api_secret)
        for path in paths:
            response = app_client.get(path)
            assert response.status_code == 404 and response.json()["error"]["type"] == "notFound", path
        app_client.auth = None  # type: ignore[assignment]
        for path in paths:
            assert app_client.get(path).status_code == 401, path
    finally:
        app_client.auth = mine
    assert app_client.get(f"/invoices/{uuid.uuid4()}/explanation").status_code == 404
    assert app_client.get("/invoices/not-an-id/download").status_code == 404


_MEASURE = """<script>
window.addEventListener("load", () => {
  const root = document.documentElement;
  document.body.setAttribute("data-overflow", String(root.scrollWidth > window.innerWidth));
  document.body.setAttribute("data-width", String(window.innerWidth));
});
</script>"""


def _seed_guide(client: TestClient) -> dict[str, Any]:
    """The seed guide's invoice (SPEC §8 E1): 10 editor seats at £15 with 20% VAT."""
    product = _post(client, "/products", {"name": "Editor"})
    seats = _post(client, "/seat-metrics", {"seatType": "editor", "label": "Editor"})
    price = _post(
        client,
        "/prices",
        {
            "name": "Editor seat",
            "productId": product["id"],
            "currency": "GBP",
            "structure": {
                "pricingType": "SEAT_BASED",
                "seatMetricId": seats["id"],
                "pricePerSeat": "15",
                "prorationStrategy": "PRORATE_INCREMENTS",
                "contractedMinimumSeats": 0,
            },
            "billingFrequency": "MONTHLY",
            "billingType": "IN_ARREARS",
        },
    )
    event = {"customerEventId": "s1", "seatType": "editor", "eventTimestamp": "2024-01-01T09:00:00Z", "total": 10}
    return _bill(client, [price], [event], "Northwind Analytics Ltd")


@pytest.mark.parametrize("which", ["seed-guide", "every-pricing-type"])
def test_the_page_in_headless_chromium_at_desktop_and_phone_width(
    app_client: TestClient, account: Any, tmp_path: Path, which: str
) -> None:
    chromium = _tool("chromium")
    _seller(account["id"], legal_name="Billrun Demo Ltd", address="2 Market Street\nCambridge CB2 3QZ")
    if which == "seed-guide":
        invoice = _seed_guide(app_client)
    else:
        invoice = _every_pricing_type(app_client, "Northwind Analytics Ltd")
    html = app_client.get(f"/invoices/{invoice['id']}/html").text
    page = tmp_path / "invoice.html"
    page.write_text(html.replace("</body>", _MEASURE + "</body>"))
    gross = f"£{float(invoice['grossTotal']):,.2f}"
    for width in (1280, 375):
        common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},1000"]
        dom = subprocess.run(
            [*common, "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        assert f'id="gross-total">{gross}<' in dom
        assert re.search(r'data-overflow="false"', dom), f"horizontal overflow at {width}px"
        shot = tmp_path / f"invoice-{which}-{width}.png"
        tall = [arg if not arg.startswith("--window-size") else f"--window-size={width},1500" for arg in common]
        subprocess.run(
            [*tall, "--hide-scrollbars", f"--screenshot={shot}", page.as_uri()],
            capture_output=True,
            timeout=120,
            check=True,
        )
        png = shot.read_bytes()
        assert png.startswith(b"\x89PNG") and int.from_bytes(png[16:20], "big") == width
        keep = os.environ.get("BILLRUN_SCREENSHOTS_DIR")  # docs/ images are refreshed this way (README)
        if keep:
            shutil.copy(shot, Path(keep) / shot.name)


def test_events_kept_as_a_digest_are_derived_again_verified_and_changes_since_named(
    app_client: TestClient, every_type: dict[str, Any], account: Any
) -> None:
    """A line records the events it counted as their count, digest and ingest watermark (SPEC §6.7, revised):
    the explanation derives the set again at the watermark, says it matches the digest (``verified``), and
    whether events received since would change it (``changedSince``): a new event in the window, an event
    sent again outside it. A digest that does not match is reported, not trusted."""
    from billrun.billing import explanation
    from billrun.store import invoices as invoice_repo

    invoice_id = uuid.UUID(every_type["id"])
    with unit_of_work() as s:
        snapshot, _ = invoice_repo.latest_snapshot(s, invoice_id)
        assert snapshot is not None
        body = snapshot.body  # this calculation's, whatever recalculations come after it
    (line,) = [ln for ln in body["lines"] if ln["title"] == "Calls linear"]
    assert "eventIds" not in line["derivation"] and line["derivation"]["eventCount"] == CALLS

    def derive(recorded: dict[str, Any]) -> explanation.CountedEvents:
        with unit_of_work() as s:
            found = explanation.counted_events(s, uuid.UUID(account["id"]), recorded, line["index"])
        assert found is not None
        return found

    first = derive(body)
    assert (first.verified, first.changed_since, len(first.ids)) == (True, False, CALLS)
    customer_id = every_type["customerId"]
    moved = {"customerEventId": "call-7", "eventType": "call", "eventTimestamp": "2024-03-20T10:00:00Z"}
    assert app_client.post("/usage-events", json={"customerAlias": customer_id, **moved}).status_code in (200, 201)
    resent = derive(body)  # call-7 no longer counts today, but it did at the watermark
    assert (resent.verified, resent.changed_since, resent.ids) == (True, True, first.ids)
    late = {"customerEventId": "call-late", "eventType": "call", "eventTimestamp": "2024-01-20T10:00:00Z"}
    assert app_client.post("/usage-events", json={"customerAlias": customer_id, **late}).status_code in (200, 201)
    after_late = derive(body)
    assert (after_late.verified, after_late.changed_since, after_late.ids) == (True, True, first.ids)

    tampered = json.loads(json.dumps(body))
    (bad,) = [ln for ln in tampered["lines"] if ln["index"] == line["index"]]
    bad["derivation"]["eventDigest"] = format(int(bad["derivation"]["eventDigest"], 16) ^ 1, "016x")
    assert derive(tampered).verified is False


def test_pdfs_rendered_at_once_in_threads_each_hold_their_own_invoice(tmp_path: Path) -> None:
    """The API renders PDFs in its thread pool, each thread with its own font configuration: eight at once
    come out whole and each with its own customer."""
    from concurrent.futures import ThreadPoolExecutor
    from decimal import Decimal

    from billrun.documents.model import DocumentGroup, DocumentLine, InvoiceDocument, Seller
    from billrun.documents.render import html_to_pdf, invoice_html

    pdftotext = _tool("pdftotext")

    def render(n: int) -> bytes:
        line = DocumentLine(
            f"Line {n}", None, None, Decimal(n), Decimal(1), "ABSOLUTE", Decimal(0), Decimal(n), Decimal(0),
            Decimal(0), Decimal(n),
        )  # fmt: skip
        doc = InvoiceDocument(
            seller=Seller("Seller"),
            id=str(n),
            status="FINAL",
            invoice_number=f"INV-{n}",
            currency="GBP",
            customer_legal_name=f"Customer number {n}",
            groups=[DocumentGroup("G", Decimal(n), Decimal(0), Decimal(n), [line])],
            gross_total=Decimal(n),
        )
        return html_to_pdf(invoice_html(doc))

    with ThreadPoolExecutor(4) as pool:
        pdfs = list(pool.map(render, range(1, 9)))
    for n, pdf in enumerate(pdfs, start=1):
        path = tmp_path / f"{n}.pdf"
        path.write_bytes(pdf)
        text = subprocess.run([pdftotext, str(path), "-"], capture_output=True, text=True, check=True).stdout
        assert f"Customer number {n}" in text and f"INV-{n}" in text
