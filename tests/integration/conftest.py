"""Integration fixtures: the API in-process (FastAPI TestClient) for seeding, and real Celery worker
processes (``billrun worker``) on the real Redis broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture(scope="session")
def app_client(database_url: str, servers: dict[str, str]) -> Iterator[TestClient]:
    from billrun.api.app import create_app

    with TestClient(create_app(), base_url="http://testserver/api") as client:
        yield client


@pytest.fixture
def account(app_client: TestClient, database_url: str) -> dict[str, str]:
    from billrun.store.accounts import create_account
    from billrun.store.db import unit_of_work

    with unit_of_work() as session:
        new = create_account(session, f"it-{uuid.uuid4().hex[:8]}", rate_limit_per_minute=0)
    app_client.auth = (new.api_key, new.api_secret)
    return {"id": str(new.id), "apiKey": new.api_key, "apiSecret": new.api_secret}


def seed_fixed_schedule(
    client: TestClient,
    start: str = "2024-01-01",
    amount: str = "100",
    traveller_id: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """Product, FIXED monthly price, 0% tax, customer and an open-ended schedule (SPEC §8 E28's inputs)."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    product = post("/products", {"name": "Platform"})
    price = post(
        "/prices",
        {
            "name": "Platform",
            "productId": product["id"],
            "currency": "GBP",
            "structure": {"pricingType": "FIXED", "price": amount},
            "billingFrequency": "MONTHLY",
            "billingType": "IN_ARREARS",
        },
    )
    tax = post(
        "/tax-rates", {"name": "Zero", "invoiceName": "Zero", "invoiceShortName": "Z", "amount": "0", "country": "GB"}
    )
    customer = post(
        "/customers",
        {
            "legalName": "Exactly Once Ltd",
            "address": {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"},
        },
    )
    body: dict[str, Any] = {
        "customerId": customer["id"],
        "startDate": start,
        "endDate": end,
        "recurrenceDayOfMonth": 1,
        "taxRates": [{"priceId": price["id"], "taxRateId": tax["id"]}],
        "phases": [{"priceIds": [price["id"]], "startDate": start, "endDate": end}],
    }
    if traveller_id:
        body["timeTravellerId"] = traveller_id
    return post("/billing-schedules", body)


class WorkerProcess:
    """``billrun worker`` as a real process group (prefork), killed or stopped by the test."""

    def __init__(self, log_path: Path, env_extra: dict[str, str] | None = None, concurrency: int = 2) -> None:
        env = {**os.environ, "BILLRUN_LOG_LEVEL": "INFO", **(env_extra or {})}
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "billrun.cli",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
            ],
            stdout=self.log,
            stderr=self.log,
            env=env,
            start_new_session=True,
        )

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited: {log_path.read_text(errors='replace')[-2000:]}")
            return "ready." in log_path.read_text(errors="replace")

        wait_for(ready, timeout=60)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.log.close()

    def received(self) -> int:
        return self.log_path.read_text(errors="replace").count("] received")


@pytest.fixture
def worker_factory(
    tmp_path: Path, database_url: str, servers: dict[str, str]
) -> Iterator[Callable[..., WorkerProcess]]:
    from billrun.worker.app import make_celery

    make_celery().control.purge()
    started: list[WorkerProcess] = []

    def start(name: str = "worker", env: dict[str, str] | None = None, concurrency: int = 2) -> WorkerProcess:
        worker = WorkerProcess(tmp_path / f"{name}.log", env, concurrency)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 60, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
