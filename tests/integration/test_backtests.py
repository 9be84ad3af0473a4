"""Pricing backtests: a known price change reports exactly its delta through a real worker on the
``backtests`` queue; an identical replacement reports 0 for every row, from audit snapshots and from live
data; bad requests name their field; the page renders in headless Chromium."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billrun.billing import backtests
from billrun.billing.execution import execute_run
from tests.integration.conftest import WorkerProcess, seed_fixed_schedule, wait_for
from tests.integration.test_documents import _tool, bill_january, every_pricing_type_schedule
from tests.integration.test_exactly_once import materialize

pytestmark = pytest.mark.integration

PRICE_FIELDS = ("name", "currency", "structure", "billingFrequency", "billingType", "productId")


def _same(price: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"priceId": price["id"], "with": {**{k: price[k] for k in PRICE_FIELDS}, **changes}}


def _prices_of(client: TestClient, schedule: dict[str, Any]) -> list[dict[str, Any]]:
    ids = {pid for phase in schedule["phases"] for pid in phase["priceIds"]}
    return [client.get(f"/prices/{pid}").json() for pid in sorted(ids)]


def _bill_through(schedule: dict[str, Any], until: dt.date) -> None:
    for run_id in materialize(schedule["id"], until):
        assert execute_run(run_id).status == "COMPLETED"


def test_ten_percent_on_a_fixed_price_is_exactly_ten_percent(
    app_client: TestClient, account: Any, worker_factory: Callable[..., WorkerProcess]
) -> None:
    schedule = seed_fixed_schedule(app_client, amount="100")
    _bill_through(schedule, dt.date(2024, 4, 1))
    (price,) = _prices_of(app_client, schedule)
    structure = {**price["structure"], "price": "110"}
    request = {"from": "2024-02-01", "to": "2024-04-01", "replacePrices": [_same(price, structure=structure)]}
    worker_factory()  # a real worker: the task goes through the broker to the backtests queue
    response = app_client.post("/backtests", json=request)
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] in ("QUEUED", "RUNNING", "COMPLETED") and created["progress"]["schedulesTotal"] == 1

    def done() -> bool:
        return bool(app_client.get(f"/backtests/{created['id']}").json()["status"] == "COMPLETED")

    wait_for(done, timeout=60)
    body = app_client.get(f"/backtests/{created['id']}").json()
    assert body["progress"] == {"schedulesDone": 1, "schedulesTotal": 1}
    assert [(r["draftingDate"], r["oldNetTotal"], r["newNetTotal"], r["delta"]) for r in body["rows"]] == [
        ("2024-02-01", "100.00", "110.00", "10.00"),
        ("2024-03-01", "100.00", "110.00", "10.00"),
        ("2024-04-01", "100.00", "110.00", "10.00"),
    ]
    assert [(m["month"], m["delta"]) for m in body["months"]] == [
        ("2024-02", "10.00"),
        ("2024-03", "10.00"),
        ("2024-04", "10.00"),
    ]
    assert body["mostAffectedCustomers"][0]["delta"] == "30.00"
    table = app_client.get(f"/backtests/{created['id']}.csv")
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [(r["periodStart"], r["delta"]) for r in rows] == [
        ("2024-01-01", "10.00"),
        ("2024-02-01", "10.00"),
        ("2024-03-01", "10.00"),
    ]


def test_an_identical_replacement_changes_nothing(app_client: TestClient, account: Any) -> None:
    """Every pricing type, discounts and a minimum: the invoice of 2024-02-01 billed (re-rated from its audit
    snapshot), those of March and April not (re-rated from live data); and a schedule starting mid-month."""
    billed = every_pricing_type_schedule(app_client, "Backtest Ltd")
    bill_january(app_client, billed)
    fixed = seed_fixed_schedule(app_client, amount="33.33", start="2024-01-17")
    prices = [p for s in (billed, fixed) for p in _prices_of(app_client, s)]
    request = {"from": "2024-02-01", "to": "2024-04-01", "replacePrices": [_same(p) for p in prices]}
    response = app_client.post("/backtests", json=request)
    assert response.status_code == 202, response.text
    backtest_id = uuid.UUID(response.json()["id"])
    backtests.run(backtest_id)  # the task's body, in this process
    body = app_client.get(f"/backtests/{backtest_id}").json()
    assert body["status"] == "COMPLETED" and body["progress"]["schedulesDone"] == 2
    assert len(body["rows"]) == 6  # three drafting dates each
    assert all(r["delta"] == "0.00" and Decimal(r["oldNetTotal"]) > 0 for r in body["rows"])
    snapshot_row = next(r for r in body["rows"] if r["billingScheduleId"] == billed["id"])
    assert snapshot_row["oldNetTotal"] == "2000.00"  # January as billed: the minimum's true-up
    assert {r["oldNetTotal"] for r in body["rows"] if r["billingScheduleId"] == fixed["id"]} == {"16.13", "33.33"}
    backtests.run(backtest_id)  # a redelivered task leaves a finished backtest alone
    assert len(app_client.get(f"/backtests/{backtest_id}").json()["rows"]) == 6


def test_bad_requests_name_their_field(app_client: TestClient, account: Any) -> None:
    schedule = seed_fixed_schedule(app_client)
    (price,) = _prices_of(app_client, schedule)

    def error(body: dict[str, Any]) -> tuple[int, set[str]]:
        response = app_client.post("/backtests", json=body)
        return response.status_code, {e["key"] for e in response.json()["error"].get("errors", [])}

    good = {"from": "2024-01-01", "to": "2024-06-30", "replacePrices": [_same(price)]}
    assert error({**good, "to": "2023-12-31"}) == (400, {"to"})
    assert error({**good, "replacePrices": []}) == (400, {"replacePrices"})
    assert error({**good, "replacePrices": [{"priceId": str(uuid.uuid4()), "with": {}}]}) == (
        400,
        {"replacePrices[0].priceId"},
    )
    assert error({**good, "replacePrices": [_same(price, currency="EUR")]}) == (400, {"replacePrices[0].with.currency"})
    broken = {**price["structure"], "price": "-1"}
    assert error({**good, "replacePrices": [_same(price, structure=broken)]}) == (
        400,
        {"replacePrices[0].with.structure.price"},
    )
    assert error({**good, "customerIds": ["nope"]}) == (400, {"customerIds[0]"})
    assert app_client.get(f"/backtests/{uuid.uuid4()}").status_code == 404
    assert app_client.get(f"/backtests/{uuid.uuid4()}.csv").status_code == 404


def test_the_page_draws_the_months_in_headless_chromium(app_client: TestClient, account: Any, tmp_path: Path) -> None:
    chromium = _tool("chromium")
    schedule = seed_fixed_schedule(app_client, amount="100")
    (price,) = _prices_of(app_client, schedule)
    structure = {**price["structure"], "price": "125"}
    request = {"from": "2024-02-01", "to": "2024-12-01", "replacePrices": [_same(price, structure=structure)]}
    backtest_id = app_client.post("/backtests", json=request).json()["id"]
    backtests.run(uuid.UUID(backtest_id))
    html = app_client.get(f"/backtests/{backtest_id}", headers={"Accept": "text/html"}).text
    assert html.count("<rect ") == 22 and "<script" not in html
    page = tmp_path / "backtest.html"
    page.write_text(html)
    shot = tmp_path / "backtest-1280.png"
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1100"]
    subprocess.run([*args, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.read_bytes().startswith(b"\x89PNG")
    keep = os.environ.get("BILLRUN_SCREENSHOTS_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)
