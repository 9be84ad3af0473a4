"""End-to-end fixtures: a real API server (uvicorn) and a real Celery worker on the real Redis broker, both
against the session's PostgreSQL database."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="package")
def celery_worker(database_url: str, servers: dict[str, str]) -> Iterator[Any]:
    """A real worker (celery.contrib.testing.worker.start_worker), threads pool, against the real broker."""
    from celery.contrib.testing.worker import start_worker

    from billrun.config import get_settings
    from billrun.worker.app import make_celery

    get_settings.cache_clear()
    app = make_celery()
    app.control.purge()
    with start_worker(
        app, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
    ) as worker:
        yield worker


@pytest.fixture(scope="package")
def api_base_url(database_url: str, celery_worker: Any) -> Iterator[str]:
    import uvicorn

    from billrun.api.app import create_app

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("API server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/api"
    server.should_exit = True
    thread.join(timeout=10)


def create_account(name: str, *extra: str) -> dict[str, str]:
    """Credentials through the documented interface: ``billrun accounts create --name NAME``."""
    result = subprocess.run(
        [sys.executable, "-m", "billrun.cli", "accounts", "create", "--name", name, *extra],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


class Api:
    def __init__(self, base_url: str, credentials: dict[str, str]) -> None:
        token = base64.b64encode(f"{credentials['apiKey']}:{credentials['apiSecret']}".encode()).decode()
        self.account_id = credentials["id"]
        self.client = httpx.Client(base_url=base_url, headers={"Authorization": f"Basic {token}"}, timeout=60)

    def request(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        if raw is not None:
            return self.client.request(
                method, path, content=raw, headers={"Content-Type": "application/json", **(headers or {})}
            )
        if body is None:
            return self.client.request(method, path, headers=headers)
        return self.client.request(method, path, json=body, headers=headers)

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.request("POST", path, body if body is not None else {})

    def put(self, path: str, body: Any) -> httpx.Response:
        return self.request("PUT", path, body)


@pytest.fixture
def api(api_base_url: str, request: pytest.FixtureRequest) -> Iterator[Api]:
    client = Api(api_base_url, create_account(request.node.name[:60]))
    yield client
    client.client.close()


def wait_until(predicate: Any, timeout: float = 60, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture
def travel(api: Api, celery_worker: Any) -> Any:
    """SPEC §7's fixture, as written there: create a traveller at ``start`` and a schedule under it; each
    ``advance_to`` moves the clock, waits for READY, checks no run failed and returns the invoices."""

    def _travel(schedule_body: dict[str, Any], start: str) -> tuple[dict[str, Any], Any]:
        tt = api.post("/time-travellers", {"frozenTime": start}).json()
        schedule = api.post("/billing-schedules", {**schedule_body, "timeTravellerId": tt["id"]}).json()

        def advance_to(when: str, timeout: float = 60) -> list[dict[str, Any]]:
            api.put(f"/time-travellers/{tt['id']}", {"frozenTime": when})
            wait_until(lambda: api.get(f"/time-travellers/{tt['id']}").json()["status"] == "READY", timeout)
            assert api.get(f"/time-travellers/{tt['id']}").json()["failedBillingRunIds"] == []
            return list(
                api.get(f"/invoices?billingScheduleId={schedule['id']}&sortOrder=ASC&limit=100").json()["items"]
            )

        return schedule, advance_to

    return _travel
