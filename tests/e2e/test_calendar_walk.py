"""A backdated two-year schedule with seat, usage and fixed prices, walked month by month with a time
traveller: every invoice equals the domain core computed independently from the same events, and every
invoice's audit snapshot recomputes to the same totals (SPEC §4.12, §6.7)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest

from billrun.billing.snapshots import recompute
from billrun.domain.drafting import drafting_dates
from billrun.domain.inputs import (
    MetricSpec,
    Phase,
    ScheduleSpec,
    TaxRateRef,
    TaxStatus,
    metric_from_json,
    price_from_json,
)
from billrun.domain.invoice import compute_invoice
from billrun.domain.memory import InMemoryData
from billrun.domain.seats import SeatEventRecord
from billrun.domain.usage import UsageEventRecord
from tests.e2e.conftest import Api, wait_until

pytestmark = pytest.mark.e2e


def _ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_two_year_calendar_walk(api: Api) -> None:
    rng = random.Random(20240101)
    traveller = _ok(api.post("/time-travellers", {"frozenTime": "2023-01-15T00:00:00Z"}))
    product = _ok(api.post("/products", {"name": "Suite"}))
    seat_metric = _ok(api.post("/seat-metrics", {"seatType": "member", "label": "Member"}))
    usage_metric = _ok(
        api.post(
            "/usage-metrics",
            {
                "name": "Calls",
                "metricType": "SIMPLE",
                "eventType": "call",
                "aggregationType": "SUM",
                "aggregationProperty": "n",
            },
        )
    )
    price_bodies = [
        {
            "name": "Platform",
            "structure": {"pricingType": "FIXED", "price": "99.99"},
            "billingFrequency": "QUARTERLY",
            "billingType": "IN_ADVANCE",
        },
        {
            "name": "Members",
            "structure": {
                "pricingType": "SEAT_BASED",
                "seatMetricId": seat_metric["id"],
                "pricePerSeat": "12.50",
                "prorationStrategy": "PRORATE_INCREMENTS",
                "contractedMinimumSeats": 3,
            },
            "billingFrequency": "MONTHLY",
            "billingType": "IN_ARREARS",
        },
        {
            "name": "Calls",
            "structure": {
                "pricingType": "GRADUATED",
                "usageMetricId": usage_metric["id"],
                "usageCalculationMode": "BILLING_PERIOD",
                "tiers": [{"upperBound": "1000", "price": "0.02", "fee": "5"}, {"upperBound": None, "price": "0.015"}],
            },
            "billingFrequency": "MONTHLY",
            "billingType": "IN_ARREARS",
        },
    ]
    prices = [
        _ok(api.post("/prices", {**body, "productId": product["id"], "currency": "EUR"})) for body in price_bodies
    ]
    vat = _ok(
        api.post(
            "/tax-rates",
            {"name": "VAT", "invoiceName": "VAT", "invoiceShortName": "VAT", "amount": "0.19", "country": "DE"},
        )
    )
    customer = _ok(
        api.post(
            "/customers",
            {
                "legalName": "Walker GmbH",
                "address": {"line1": "Strasse 1", "town": "Berlin", "postcode": "10115", "country": "DE"},
                "customerAliases": ["walker"],
            },
        )
    )
    start = "2023-01-15"
    schedule = _ok(
        api.post(
            "/billing-schedules",
            {
                "customerId": customer["id"],
                "startDate": start,
                "endDate": "2024-12-31",
                "recurrenceDayOfMonth": 1,
                "taxRates": [{"priceId": p["id"], "taxRateId": vat["id"]} for p in prices],
                "phases": [{"priceIds": [p["id"] for p in prices], "startDate": start, "endDate": "2024-12-31"}],
                "timeTravellerId": traveller["id"],
            },
        )
    )

    seat_events: list[dict[str, Any]] = []
    usage_events: list[dict[str, Any]] = []
    day = dt.date(2022, 12, 20)
    while day <= dt.date(2024, 12, 31):
        if rng.random() < 0.08:
            seat_events.append(
                {
                    "customerAlias": rng.choice([customer["id"], "walker"]),
                    "seatType": "member",
                    "eventTimestamp": f"{day}T{rng.randint(0, 23):02d}:00:00Z",
                    "total": rng.randint(0, 9),
                }
            )
        for _ in range(rng.randint(0, 3)):
            usage_events.append(
                {
                    "customerAlias": rng.choice([customer["id"], "walker", "someone-else"]),
                    "eventType": "call",
                    "eventTimestamp": f"{day}T{rng.randint(0, 23):02d}:30:00Z",
                    "customerEventId": f"c{rng.randint(0, 400)}",
                    "eventProperties": {"n": rng.choice([rng.randint(1, 120), "7", "1,000"])},
                }
            )
        day += dt.timedelta(days=1)
    stored_seats = [_ok(api.post("/seat-events/batch", {"events": seat_events}))]
    stored_usage = [
        _ok(api.post("/usage-events/batch", {"events": usage_events[i : i + 1000]}))
        for i in range(0, len(usage_events), 1000)
    ]

    # The reference: the same inputs computed by the domain core alone, from in-memory events.
    seat_type = {seat_metric["id"]: "member"}
    spec = ScheduleSpec(
        schedule["id"],
        dt.date(2023, 1, 15),
        dt.date(2024, 12, 31),
        1,
        (Phase(dt.date(2023, 1, 15), dt.date(2024, 12, 31), tuple(p["id"] for p in prices)),),
        {
            p["id"]: price_from_json(
                p["id"],
                p["name"],
                p["currency"],
                p["structure"],
                p["billingFrequency"],
                p["billingType"],
                product_id=p["productId"],
                seat_types=seat_type,
            )
            for p in prices
        },
        "EUR",
        {p["id"]: TaxRateRef(vat["id"], Decimal("0.19")) for p in prices},
    )
    metrics: dict[str, MetricSpec] = {usage_metric["id"]: metric_from_json(usage_metric["id"], usage_metric)}
    reference = InMemoryData(metrics, frozenset({customer["id"], "walker"}))
    for batch in stored_usage:
        for item in batch["items"]:
            reference.usage_events.append(
                UsageEventRecord(
                    len(reference.usage_events),
                    item["customerEventId"],
                    item["customerAlias"],
                    item["eventType"],
                    _ts(item["eventTimestamp"]),
                    item["eventProperties"],
                    item["id"],
                )
            )
    for batch in stored_seats:
        for item in batch["items"]:
            reference.seat_events.append(
                SeatEventRecord(
                    len(reference.seat_events),
                    item["customerEventId"],
                    item["customerAlias"],
                    item["seatType"],
                    _ts(item["eventTimestamp"]),
                    item["total"],
                    item["id"],
                )
            )

    month = dt.date(2023, 2, 1)
    while month <= dt.date(2025, 1, 1):
        api.put(f"/time-travellers/{traveller['id']}", {"frozenTime": f"{month}T03:00:00Z"})
        wait_until(lambda: api.get(f"/time-travellers/{traveller['id']}").json()["status"] == "READY")
        month = (month + dt.timedelta(days=32)).replace(day=1)
    assert api.get(f"/time-travellers/{traveller['id']}").json()["failedBillingRunIds"] == []
    assert api.get(f"/billing-schedules/{schedule['id']}").json()["status"] == "COMPLETED"

    invoices = api.get(f"/invoices?billingScheduleId={schedule['id']}&sortOrder=ASC&limit=100").json()["items"]
    expected_dates = drafting_dates(spec, dt.date(2025, 1, 1))
    assert len(invoices) == len(expected_dates) > 24
    for invoice, drafting_date in zip(invoices, expected_dates, strict=True):
        expected = compute_invoice(spec, drafting_date, reference, TaxStatus.TAXED)
        got = (invoice["netTotal"], invoice["totalTax"], invoice["grossTotal"])
        assert got == (str(expected.net_total), str(expected.total_tax), str(expected.gross_total)), drafting_date
        assert invoice["billingPeriod"] == {
            "start": expected.billing_period.start.isoformat(),  # type: ignore[union-attr]
            "endInclusive": expected.billing_period.end.isoformat(),
        }  # type: ignore[union-attr]
        lines = api.get(f"/invoices/{invoice['id']}/line-items").json()["items"]
        assert [(ln["title"], ln["netTotal"]) for ln in lines] == [
            (ln.title, str(ln.net_total)) for ln in expected.lines
        ]
        snapshot = api.get(f"/invoices/{invoice['id']}/calculation-snapshot").json()
        # every line records the events it counted (SPEC §6.7, revised): the digest of the winning rows, as the
        # reference counts them
        for stored, line in zip(snapshot["lines"], expected.lines, strict=True):
            got_events = (stored["derivation"].get("eventCount"), stored["derivation"].get("eventDigest"))
            want = (line.derivation.get("eventCount"), line.derivation.get("eventDigest"))
            assert got_events == want, (drafting_date, line)
        replayed = recompute(snapshot)
        assert (str(replayed.net_total), str(replayed.total_tax), str(replayed.gross_total)) == got
