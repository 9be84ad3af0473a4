"""The chunk path and the per-run path agree on everything, and every invoice replays from its snapshot.

Hypothesis builds random schedules through the API (every pricing type of SPEC §4.6-4.7, two phases with
RESET or CONTINUE, discounts, minimums, mid-period start and end dates, usage and seat events around period
boundaries and midnights, overrides and VOIDs). Each schedule's runs are billed twice against real PostgreSQL:
once as one chunk (``execute_chunk``: bulk prefetch of usage windows, seat timelines and on-demand days, COPY
writes) and once run by run (``execute_run``: every input read by its own query, ORM writes). Every invoice,
line, group, snapshot and run row must be the same, and every invoice must recompute from its audit snapshot
alone to the same lines and totals (SPEC §6.7).

``BILLRUN_DIFFERENTIAL_EXAMPLES`` sets the number of examples (200 by default).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from billrun.billing.chunk import execute_chunk
from billrun.billing.execution import execute_run
from billrun.billing.snapshots import recompute
from billrun.store.accounts import create_account
from billrun.store.db import unit_of_work
from billrun.store.models import (
    BillingRun,
    BillingSchedule,
    CalculationSnapshot,
    Invoice,
    InvoiceLineItem,
    InvoiceLineItemGroup,
)
from tests.integration.test_exactly_once import materialize

pytestmark = pytest.mark.integration
EXAMPLES = int(os.environ.get("BILLRUN_DIFFERENTIAL_EXAMPLES", "200"))
ADDRESS = {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MOMENT_KEYS = {
    "clock",
    "calculatedAt",
    "createdAt",
    "updatedAt",
    "calculated_at",
    "created_at",
    "updated_at",
    "completed_at",
}

TIERS = [{"upperBound": "10", "price": "1.5"}, {"upperBound": "40", "price": "0.75", "fee": "2"}, {"price": "0.3"}]
SEAT_TIERS = [{"upperBound": "3", "price": "12"}, {"price": "9", "fee": "4"}]

# (pricingType, billingFrequency, billingType, extra structure); usage prices read the "units" SUM metric
PRICE_KINDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "fixed-arrears": ("MONTHLY", "IN_ARREARS", {"pricingType": "FIXED", "price": "49.99"}),
    "fixed-advance-quarterly": ("QUARTERLY", "IN_ADVANCE", {"pricingType": "FIXED", "price": "300"}),
    "one-time": ("ONE_TIME", "IN_ADVANCE", {"pricingType": "ONE_TIME", "price": "125"}),
    "linear": ("MONTHLY", "IN_ARREARS", {"pricingType": "LINEAR", "pricePerUnit": "0.37"}),
    "linear-percentage": (
        "MONTHLY",
        "IN_ARREARS",
        {"pricingType": "LINEAR", "pricePerUnit": "0.015", "isPricePercentage": True, "minPrice": "1", "maxPrice": "9"},
    ),
    "package": ("MONTHLY", "IN_ARREARS", {"pricingType": "PACKAGE", "packageSize": "7", "pricePerPackage": "3"}),
    "volume": ("MONTHLY", "IN_ARREARS", {"pricingType": "VOLUME", "tiers": TIERS}),
    "graduated": ("MONTHLY", "IN_ARREARS", {"pricingType": "GRADUATED", "usageCalculationMode": "BILLING_PERIOD"}),
    "graduated-cumulative": (
        "MONTHLY",
        "IN_ARREARS",
        {"pricingType": "GRADUATED", "usageCalculationMode": "CUMULATIVE"},
    ),
    "on-demand": ("ON_DEMAND", "IN_ARREARS", {"pricingType": "LINEAR", "pricePerUnit": "0.2"}),
    "seats-max": ("MONTHLY", "IN_ARREARS", {"prorationStrategy": "USE_MAXIMUM", "contractedMinimumSeats": 2}),
    "seats-increments": ("MONTHLY", "IN_ARREARS", {"prorationStrategy": "PRORATE_INCREMENTS"}),
    "seats-all-changes": ("MONTHLY", "IN_ARREARS", {"prorationStrategy": "PRORATE_ALL_CHANGES", "tiers": SEAT_TIERS}),
    "seats-advance-overages": (
        "QUARTERLY",
        "IN_ADVANCE",
        {"prorationStrategy": "PRORATE_INCREMENTS", "contractedMinimumSeats": 3, "overagesBillingFrequency": "MONTHLY"},
    ),
}


def _timestamp(start: dt.date, day: int, minute: int) -> str:
    """``minute`` 0 is exactly midnight: boundaries of days, periods and windows are common on purpose."""
    moment = dt.datetime.combine(start, dt.time(), dt.UTC) + dt.timedelta(days=day, minutes=minute)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


events = st.lists(
    st.tuples(st.integers(-10, 200), st.sampled_from([0, 0, 1, 719, 1439]), st.integers(0, 60)), max_size=14
)
schedules = st.fixed_dictionaries(
    {
        "start": st.dates(dt.date(2024, 1, 1), dt.date(2024, 3, 31)),
        "months": st.one_of(st.none(), st.integers(1, 6)),
        "kinds": st.lists(st.sampled_from(sorted(PRICE_KINDS)), min_size=1, max_size=4, unique=True),
        "second_phase": st.one_of(st.none(), st.sampled_from(["CONTINUE_FROM_PREVIOUS_PHASE", "RESET"])),
        "discount": st.one_of(st.none(), st.sampled_from(["PERCENTAGE", "NOMINAL"])),
        "minimum": st.booleans(),
        "usage": events,
        "seats": events,
        "overrides": st.lists(st.tuples(st.integers(0, 13), st.booleans()), max_size=3),
        "taxed": st.booleans(),
    }
)


def _ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, 28))


def _create(client: TestClient, spec: dict[str, Any]) -> tuple[str, dt.date]:
    """The schedule of ``spec`` with its catalogue and events; returns (schedule id, the date to bill to)."""
    tag = uuid.uuid4().hex[:8]
    product = _ok(client.post("/products", json={"name": "Product"}))
    metric = _ok(
        client.post(
            "/usage-metrics",
            json={
                "name": f"Units {tag}",
                "metricType": "SIMPLE",
                "eventType": "use",
                "aggregationType": "SUM",
                "aggregationProperty": "units",
            },
        )
    )
    seat_type = "seat_" + "".join(chr(ord("a") + int(c, 16)) for c in tag)
    seat_metric = _ok(client.post("/seat-metrics", json={"seatType": seat_type, "label": "Seat"}))
    prices = []
    for kind in spec["kinds"]:
        frequency, billing_type, extra = PRICE_KINDS[kind]
        structure = dict(extra)
        if kind.startswith("seats"):
            structure = {
                "pricingType": "SEAT_BASED",
                "seatMetricId": seat_metric["id"],
                "pricePerSeat": "11",
                "contractedMinimumSeats": 0,
                **structure,
            }
        elif structure["pricingType"] not in ("FIXED", "ONE_TIME"):
            structure["usageMetricId"] = metric["id"]
            if structure["pricingType"] == "GRADUATED":
                structure["tiers"] = TIERS
        body = {
            "name": kind,
            "productId": product["id"],
            "currency": "GBP",
            "structure": structure,
            "billingFrequency": frequency,
            "billingType": billing_type,
        }
        prices.append(_ok(client.post("/prices", json=body)))
    tax = _ok(
        client.post(
            "/tax-rates",
            json={"name": "VAT", "invoiceName": "VAT", "invoiceShortName": "VAT", "amount": "0.2", "country": "GB"},
        )
    )
    customer = _ok(
        client.post(
            "/customers",
            json={
                "legalName": "Random Ltd",
                "address": ADDRESS,
                "taxStatus": "TAXED" if spec["taxed"] else "TAX_EXEMPT",
            },
        )
    )
    start: dt.date = spec["start"]
    end = _add_months(start, spec["months"]) - dt.timedelta(days=1) if spec["months"] else None
    price_ids = [p["id"] for p in prices]
    first: dict[str, Any] = {"priceIds": price_ids, "startDate": start.isoformat()}
    if spec["discount"]:
        amount = "12.5" if spec["discount"] == "PERCENTAGE" else "7"
        first["discounts"] = [
            {"type": spec["discount"], "amount": amount, "message": "Promo", "separateLineItem": False}
        ]
    recurring = [p["id"] for p, k in zip(prices, spec["kinds"], strict=True) if PRICE_KINDS[k][0] == "MONTHLY"]
    if spec["minimum"] and recurring:
        first["minimums"] = [{"amount": "150", "restrictToPrices": recurring}]
    phases = [first]
    second_start = _add_months(start, 2)
    if spec["second_phase"] and (end is None or second_start <= end):
        first["endDate"] = (second_start - dt.timedelta(days=1)).isoformat()
        phases.append(
            {
                "priceIds": price_ids,
                "startDate": second_start.isoformat(),
                "endDate": end.isoformat() if end else None,
                "recurrencePreference": spec["second_phase"],
            }
        )
    else:
        first["endDate"] = end.isoformat() if end else None
    _ok(
        client.post(
            "/billing-schedules",
            json={
                "customerId": customer["id"],
                "startDate": start.isoformat(),
                "endDate": end.isoformat() if end else None,
                "recurrenceDayOfMonth": start.day if start.day <= 28 else 1,
                "taxRates": [{"priceId": pid, "taxRateId": tax["id"]} for pid in price_ids],
                "phases": phases,
            },
        )
    )
    schedule_id = client.get(f"/billing-schedules?customerId={customer['id']}").json()["items"][0]["id"]
    # one batch per kind (and one for overrides, which must come after what they override): far fewer requests
    posted = [
        {
            "customerAlias": customer["id"],
            "customerEventId": f"u{i}",
            "eventType": "use",
            "eventTimestamp": _timestamp(start, day, minute),
            "eventProperties": {"units": units},
        }
        for i, (day, minute, units) in enumerate(spec["usage"])
    ]
    overrides = [
        {**posted[which], "customerAlias": "VOID"} if void else {**posted[which], "eventProperties": {"units": 3}}
        for which, void in spec["overrides"]
        if which < len(posted)
    ]
    seats = [
        {
            "customerAlias": customer["id"],
            "customerEventId": f"s{i}",
            "seatType": seat_type,
            "eventTimestamp": _timestamp(start, day, minute),
            "total": total,
        }
        for i, (day, minute, total) in enumerate(spec["seats"])
    ]
    for path, batch in (
        ("/usage-events/batch", posted),
        ("/usage-events/batch", overrides),
        ("/seat-events/batch", seats),
    ):
        if batch:
            _ok(client.post(path, json={"events": batch}))
    bill_to = (end + dt.timedelta(days=40)) if end else _add_months(start, 7)
    return schedule_id, min(bill_to, dt.date(2024, 12, 1))


def _normalise(value: Any, ids: dict[str, str]) -> Any:
    """Rows and snapshots with the two billings' own ids and clock readings taken out."""
    if isinstance(value, dict):
        return {k: _normalise(v, ids) for k, v in value.items() if k not in MOMENT_KEYS and k != "id"}
    if isinstance(value, list | tuple):
        return [_normalise(v, ids) for v in value]
    if isinstance(value, uuid.UUID):
        value = str(value)
    if isinstance(value, str):
        return UUID.sub(lambda m: ids.get(m.group(0), m.group(0)), value)
    if isinstance(value, Decimal):
        return str(value)
    return value


def _columns(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}


def _billed(schedule_id: str) -> dict[str, Any]:
    sid = uuid.UUID(schedule_id)
    with unit_of_work() as s:
        invoices = list(
            s.execute(
                select(Invoice).where(Invoice.billing_schedule_id == sid).order_by(Invoice.drafting_date)
            ).scalars()
        )
        ids: dict[str, str] = {}
        dump: dict[str, Any] = {"invoices": []}
        for n, invoice in enumerate(invoices):
            ids[str(invoice.id)] = f"invoice-{n}"
            lines = list(
                s.execute(
                    select(InvoiceLineItem)
                    .where(InvoiceLineItem.invoice_id == invoice.id)
                    .order_by(InvoiceLineItem.index)
                ).scalars()
            )
            groups = list(
                s.execute(
                    select(InvoiceLineItemGroup)
                    .where(InvoiceLineItemGroup.invoice_id == invoice.id)
                    .order_by(InvoiceLineItemGroup.index)
                ).scalars()
            )
            ids.update({str(x.id): f"line-{n}-{i}" for i, x in enumerate(lines)})
            ids.update({str(x.id): f"group-{n}-{i}" for i, x in enumerate(groups)})
            snapshots = [
                snap.body
                for snap in s.execute(
                    select(CalculationSnapshot).where(CalculationSnapshot.invoice_id == invoice.id)
                ).scalars()
            ]
            dump["invoices"].append(
                {
                    "invoice": _columns(invoice),
                    "lines": [_columns(x) for x in lines],
                    "groups": [_columns(x) for x in groups],
                    "snapshots": snapshots,
                }
            )
        runs = s.execute(
            select(BillingRun).where(BillingRun.billing_schedule_id == sid).order_by(BillingRun.intended_drafting_date)
        ).scalars()
        dump["runs"] = [_columns(r) for r in runs]
        schedule = s.get(BillingSchedule, sid)
        assert schedule is not None
        dump["lastInvoice"] = str(schedule.last_invoice_id)
    for run in dump["runs"]:
        run.pop("claim_token", None)
        run.pop("started_at", None)
    return _normalise(dump, ids)


def _reset(schedule_id: str) -> None:
    """Back to the state before billing: no invoices, every run SCHEDULED and never attempted."""
    sid = uuid.UUID(schedule_id)
    with unit_of_work() as s:
        s.execute(update(BillingSchedule).where(BillingSchedule.id == sid).values(last_invoice_id=None))
        s.execute(delete(Invoice).where(Invoice.billing_schedule_id == sid))
        s.execute(
            update(BillingRun)
            .where(BillingRun.billing_schedule_id == sid)
            .values(
                status="SCHEDULED",
                invoice_id=None,
                attempts=0,
                claim_token=None,
                lease_expires_at=None,
                started_at=None,
                completed_at=None,
                billing_start_date=None,
                billing_end_date=None,
                warnings=[],
                last_error=None,
                next_retry_at=None,
            )
        )


def _assert_replays(client: TestClient, schedule_id: str) -> None:
    for invoice in client.get(f"/invoices?billingScheduleId={schedule_id}&limit=100").json()["items"]:
        snapshot = client.get(f"/invoices/{invoice['id']}/calculation-snapshot").json()
        replayed = recompute(snapshot)
        lines = client.get(f"/invoices/{invoice['id']}/line-items?limit=100").json()["items"]
        assert [(ln["title"], ln["quantity"], ln["netTotal"], ln["totalTax"]) for ln in lines] == [
            (ln.title, _plain(ln.quantity), str(ln.net_total), str(ln.total_tax)) for ln in replayed.lines
        ], invoice["id"]
        assert (invoice["netTotal"], invoice["totalTax"], invoice["grossTotal"]) == (
            str(replayed.net_total),
            str(replayed.total_tax),
            str(replayed.gross_total),
        )


def _plain(value: Decimal) -> str:
    from billrun.domain.money import plain_str

    return plain_str(value)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
    # each example bills real runs twice: shrinking would take many minutes; the failing spec is printed as is
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
)
@given(spec=schedules)
def test_chunk_and_per_run_bill_alike_and_every_invoice_replays(
    app_client: TestClient, database_url: str, spec: dict[str, Any]
) -> None:
    with unit_of_work() as s:
        new = create_account(s, f"diff-{uuid.uuid4().hex[:8]}", rate_limit_per_minute=0)
    app_client.auth = (new.api_key, new.api_secret)
    schedule_id, bill_to = _create(app_client, spec)
    run_ids = materialize(schedule_id, bill_to)

    chunk = execute_chunk(run_ids)
    assert all(o.status == "COMPLETED" for o in chunk), chunk
    by_chunk = _billed(schedule_id)
    _assert_replays(app_client, schedule_id)

    _reset(schedule_id)
    for run_id in run_ids:
        assert execute_run(run_id).status == "COMPLETED"
    by_run = _billed(schedule_id)

    assert by_chunk == by_run, _first_difference(by_chunk, by_run)


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    """Where two dumps first differ, and the two values there."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: chunk {a!r} != per run {b!r}"
