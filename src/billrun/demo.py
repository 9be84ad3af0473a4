"""``billrun demo``: the main job on embedded defaults, as a new user's first command.

It starts the embedded PostgreSQL and Redis, a real Celery worker process and the API server, replays the
seed guide's requests (product, editor seat metric, £15 seat price, customer, 20% UK VAT, the 2024
schedule) under a time traveller, records 10 seats from 2024-01-01, travels to 2024-02-01T12:00:00Z and
prints the DRAFT invoice the billing run produced, then stops everything it started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from billrun.config import get_settings
from billrun.domain.statuses import TravellerStatus
from billrun.embedded import embedded_services


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_guide_requests() -> list[tuple[str, str, dict[str, Any] | None, str]]:
    """(method, path, body, name to save) in the seed guide's order; ``{name}`` placeholders refer to ids."""
    return [
        ("POST", "/time-travellers", {"frozenTime": "2023-12-31T00:00:00Z"}, "traveller"),
        ("POST", "/products", {"name": "Example product", "label": "Example product"}, "product"),
        ("POST", "/seat-metrics", {"seatType": "editor", "label": "Editor Seat"}, "seatMetric"),
        (
            "POST",
            "/prices",
            {
                "name": "Editor seat",
                "productId": "{product}",
                "currency": "GBP",
                "billingFrequency": "MONTHLY",
                "billingType": "IN_ARREARS",
                "structure": {
                    "pricingType": "SEAT_BASED",
                    "seatMetricId": "{seatMetric}",
                    "pricePerSeat": "15.0",
                    "prorationStrategy": "PRORATE_INCREMENTS",
                    "contractedMinimumSeats": 0,
                },
                "externalIds": [],
            },
            "price",
        ),
        (
            "POST",
            "/customers",
            {
                "legalName": "John Doe",
                "contactName": "John Doe",
                "address": {
                    "line1": "Flat 1",
                    "line2": "123 Fake Street",
                    "town": "London",
                    "postcode": "AB1 2EF",
                    "country": "GB",
                },
                "email": "john@example.com",
                "billingEmails": ["billing@example.com"],
                "telephone": "001122334455",
                "url": "https://example.com/",
                "label": "Example Customer",
                "taxStatus": "TAXED",
                "customerAliases": [],
                "integrationIds": [{"service": "Stripe", "id": "cus_OCtCxqQDgu1uX9"}],
            },
            "customer",
        ),
        (
            "POST",
            "/tax-rates",
            {
                "isPublished": True,
                "name": "UK Sales Tax",
                "invoiceName": "Value Added Tax",
                "invoiceShortName": "VAT",
                "description": "Value Added Tax applied to sales in the UK",
                "amount": "0.2",
                "country": "GB",
            },
            "taxRate",
        ),
        (
            "POST",
            "/billing-schedules",
            {
                "type": "PHASES",
                "customerId": "{customer}",
                "startDate": "2024-01-01",
                "endDate": "2024-12-31",
                "recurrenceDayOfMonth": 1,
                "phases": [{"priceIds": ["{price}"], "startDate": "2024-01-01", "endDate": "2024-12-31"}],
                "taxRates": [{"priceId": "{price}", "taxRateId": "{taxRate}"}],
                "isDraft": False,
                "rollUpBilling": True,
                "timeTravellerId": "{traveller}",
            },
            "schedule",
        ),
        (
            "POST",
            "/seat-events",
            {
                "customerAlias": "{customer}",
                "seatType": "editor",
                "eventTimestamp": "2024-01-01T00:00:00Z",
                "total": 10,
            },
            "seatEvent",
        ),
    ]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _start_worker(log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - the worker writes to it until we stop it
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "billrun.cli",
            "worker",
            "--concurrency",
            "1",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
        ],
        stdout=log,
        stderr=log,
        env=dict(os.environ),
        start_new_session=True,
    )


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is not None:
        return
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


def run_demo(out: Any = sys.stdout) -> dict[str, Any]:
    """Run the demo; returns (and prints) ``{"invoice": ..., "lineItems": [...]}``."""
    data_dir = get_settings().data_dir
    with embedded_services(data_dir):
        import uvicorn

        from billrun.api.app import create_app
        from billrun.store import migrate
        from billrun.store.accounts import create_account
        from billrun.store.db import dispose_engines, unit_of_work

        get_settings.cache_clear()
        migrate.upgrade("head")
        with unit_of_work() as session:
            account = create_account(session, "billrun demo")
        worker = _start_worker(get_settings().data_dir.resolve() / "worker.log")
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            while not server.started:
                time.sleep(0.05)
            result = _replay(f"http://127.0.0.1:{port}/api", account.api_key, account.api_secret)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            _stop_worker(worker)
            dispose_engines()
    out.write(json.dumps(result, indent=2) + "\n")
    return result


def _replay(base_url: str, key: str, secret: str) -> dict[str, Any]:
    ids: dict[str, str] = {}
    with httpx.Client(base_url=base_url, auth=(key, secret), timeout=60) as client:
        for method, path, body, name in seed_guide_requests():
            response = client.request(method, path, json=_fill(body, ids))
            if response.status_code >= 300:
                raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text}")
            ids[name] = response.json()["id"]
        moved = client.put(f"/time-travellers/{ids['traveller']}", json={"frozenTime": "2024-02-01T12:00:00Z"})
        moved.raise_for_status()
        deadline = time.monotonic() + 120
        while client.get(f"/time-travellers/{ids['traveller']}").json()["status"] != TravellerStatus.READY:
            if time.monotonic() > deadline:
                raise RuntimeError("the billing run did not finish within 120 s; see the worker log")
            time.sleep(0.2)
        invoices = client.get("/invoices", params={"billingScheduleId": ids["schedule"]}).json()["items"]
        if len(invoices) != 1:
            raise RuntimeError(f"expected one invoice, found {len(invoices)}")
        invoice = invoices[0]
        lines = client.get(f"/invoices/{invoice['id']}/line-items").json()["items"]
        for suffix, path in ((".html", "html"), (".pdf", "download")):
            document = client.get(f"/invoices/{invoice['id']}/{path}")
            if document.status_code == 200:  # a PDF needs Pango (README, Invoice documents)
                target = get_settings().data_dir.resolve() / f"demo-invoice{suffix}"
                target.write_bytes(document.content)
                sys.stderr.write(f"the invoice as a document: {target}\n")
    return {"invoice": invoice, "lineItems": lines}
