"""Faults with real processes: a worker frozen mid-chunk for longer than its lease does not stop the others
from billing, and its runs are billed once, by someone; a task that loses the database mid-chunk takes its own
runs back when it is retried instead of leaving them to their lease."""

from __future__ import annotations

import base64
import datetime as dt
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from billrun.billing import triggers
from billrun.billing.chunk import execute_chunk
from billrun.billing.dispatch import dispatcher
from billrun.config import get_settings
from billrun.store import runs as run_repo
from billrun.store.db import unit_of_work
from tests.integration.conftest import WorkerProcess, seed_fixed_schedule, wait_for
from tests.integration.test_exactly_once import FEB, invoices, materialize, runs

pytestmark = pytest.mark.integration
LEASE = "10"


def _completed(schedule_id: str) -> bool:
    return all(r.status == "COMPLETED" for r in runs(schedule_id))


def test_a_worker_frozen_mid_chunk_does_not_stop_billing(
    app_client: TestClient,
    account: Any,
    tmp_path: Path,
    worker_factory: Callable[..., WorkerProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLRUN_LEASE_SECONDS", LEASE)
    get_settings.cache_clear()
    frozen_schedule = seed_fixed_schedule(app_client, end="2024-01-31")
    (frozen_run,) = materialize(frozen_schedule["id"], FEB)
    marker, resume = tmp_path / "paused", tmp_path / "resume"
    frozen = worker_factory(
        "frozen",
        {
            "BILLRUN_TEST_PAUSE_AT": "computed",
            "BILLRUN_TEST_PAUSE_FILE": str(marker),
            "BILLRUN_TEST_RESUME_FILE": str(resume),
            "BILLRUN_LEASE_SECONDS": LEASE,
        },
        concurrency=1,
    )
    dispatcher().execute_runs([frozen_run])
    wait_for(marker.exists)  # inside its chunk transaction, holding the schedule's lock
    os.killpg(frozen.proc.pid, signal.SIGSTOP)
    try:
        worker_factory("healthy", {"BILLRUN_LEASE_SECONDS": LEASE}, concurrency=1)
        others = [seed_fixed_schedule(app_client, end="2024-01-31") for _ in range(3)]
        started = time.monotonic()
        for schedule in others:
            dispatcher().execute_runs(materialize(schedule["id"], FEB))
        wait_for(lambda: all(_completed(s["id"]) for s in others), timeout=30)
        assert time.monotonic() - started < 15, "the healthy worker waited for the frozen one"

        # past the lease the tick hands the frozen worker's run to someone else, who bills it once
        deadline = time.monotonic() + 60
        while not _completed(frozen_schedule["id"]):
            assert time.monotonic() < deadline, runs(frozen_schedule["id"])
            triggers.tick()
            time.sleep(2)
        (invoice,) = invoices(frozen_schedule["id"])
        assert invoice.net_total == 100
    finally:
        os.killpg(frozen.proc.pid, signal.SIGCONT)
    resume.touch()  # the frozen worker wakes up: its session was ended, it must not bill or fail the run again
    time.sleep(3)
    (run,) = runs(frozen_schedule["id"])
    assert run.status == "COMPLETED" and run.invoice_id is not None
    assert len(invoices(frozen_schedule["id"])) == 1


def test_a_retried_task_takes_back_the_runs_it_had_claimed(app_client: TestClient, account: Any) -> None:
    """The claim committed, then the database went away: the same task (same token) claims its runs again at
    once, although their lease is live; another token cannot."""
    schedule = seed_fixed_schedule(app_client, end="2024-01-31")
    (run_id,) = materialize(schedule["id"], FEB)
    token = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    with unit_of_work() as session:
        assert run_repo.claim_many(session, [run_id], token, now, dt.timedelta(minutes=10)) == [run_id]
    assert [o.status for o in execute_chunk([run_id])] == ["SKIPPED"]  # someone else: the lease holds
    assert [o.status for o in execute_chunk([run_id], token=token)] == ["COMPLETED"]
    (invoice,) = invoices(schedule["id"])
    assert invoice.net_total == 100


@dataclass
class OwnPostgres:
    """A PostgreSQL cluster of the test's own, which it may stop and start on the same port."""

    server: Any
    url: str

    def _pg_ctl(self, *args: str) -> None:
        from billrun.embedded import pg_bin_dir

        self.server._run([str(pg_bin_dir() / "pg_ctl"), "-D", str(self.server.pgdata), *args])

    def stop(self) -> None:
        self._pg_ctl("-m", "immediate", "-w", "stop")

    def start(self) -> None:
        options = f"-p {self.server.port} -c listen_addresses=127.0.0.1 -k {self.server.pgdata}"
        self._pg_ctl("-l", str(self.server.pgdata / "server.log"), "-o", options, "-w", "start")


@pytest.fixture
def own_postgres(monkeypatch: pytest.MonkeyPatch) -> Iterator[OwnPostgres]:
    """BILLRUN_DATABASE_URL points at a migrated database on a cluster of this test's own."""
    from billrun.embedded import EmbeddedPostgres
    from billrun.store import migrate
    from billrun.store.db import dispose_engines
    from tests.conftest import reachable_tmp_dir

    server = EmbeddedPostgres(reachable_tmp_dir("billrun-restart-"))
    server.start()
    try:
        monkeypatch.setenv("BILLRUN_DATABASE_URL", server.url())
        get_settings.cache_clear()
        migrate.upgrade("head")
        yield OwnPostgres(server, server.url())
    finally:
        dispose_engines()
        server.stop()
        get_settings.cache_clear()


def _client_on(url_account: str = "restart") -> TestClient:
    from billrun.api.app import create_app
    from billrun.store.accounts import create_account

    with unit_of_work() as session:
        new = create_account(session, url_account, rate_limit_per_minute=0)
    client = TestClient(create_app(install_dispatcher=False), base_url="http://testserver/api")
    client.auth = (new.api_key, new.api_secret)
    return client


def test_a_postgresql_restart_is_503_then_recovery_without_restarting_the_api(own_postgres: OwnPostgres) -> None:
    """PostgreSQL stopped in immediate mode under API traffic: 503 with Retry-After, never a 500; started
    again on the same port, the same API process answers 200 within seconds."""
    client = _client_on()
    assert client.get("/products").status_code == 200
    own_postgres.stop()
    for _ in range(3):
        down = client.get("/products")
        assert down.status_code == 503, down.text
        assert down.headers["Retry-After"] and down.json()["error"]["type"] == "serviceUnavailable"
    assert client.post("/products", json={"name": "P"}).status_code == 503
    own_postgres.start()
    deadline = time.monotonic() + 10
    while (answer := client.get("/products")).status_code != 200:
        assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
        time.sleep(0.2)
    assert client.post("/products", json={"name": "P"}).status_code == 201


def test_billing_resumes_within_seconds_of_a_postgresql_restart(
    own_postgres: OwnPostgres, servers: dict[str, str], tmp_path: Path
) -> None:
    """A worker inside its chunk when PostgreSQL restarts: the task retries within seconds with its own claim
    token and bills the run, instead of leaving it FAILED or waiting for its ten-minute lease."""
    from celery import Celery
    from sqlalchemy import make_url

    client = _client_on()
    schedule = seed_fixed_schedule(client, end="2024-01-31")
    (run_id,) = materialize(schedule["id"], FEB)
    broker = make_url(servers["broker_url"]).set(database="9").render_as_string(hide_password=False)
    marker, resume = tmp_path / "paused", tmp_path / "resume"
    worker = WorkerProcess(
        tmp_path / "worker.log",
        {
            "BILLRUN_DATABASE_URL": own_postgres.url,
            "BILLRUN_BROKER_URL": broker,
            "BILLRUN_TEST_PAUSE_AT": "computed",
            "BILLRUN_TEST_PAUSE_FILE": str(marker),
            "BILLRUN_TEST_RESUME_FILE": str(resume),
        },
        concurrency=1,
    )
    try:
        sender = Celery("restart-test", broker=broker, set_as_current=False)
        sender.send_task("billrun.execute_billing_runs", args=[[str(run_id)], None])
        wait_for(marker.exists, timeout=30)  # inside the chunk transaction
        own_postgres.stop()
        time.sleep(1)
        own_postgres.start()
        restarted = time.monotonic()
        resume.touch()
        wait_for(lambda: _completed(schedule["id"]), timeout=30)
        assert time.monotonic() - restarted < 20
        (run,) = runs(schedule["id"])
        assert run.attempts == 2 and run.last_error is None
        assert len(invoices(schedule["id"])) == 1
    finally:
        worker.stop()


def test_a_broker_restarted_empty_gets_its_runs_back_at_the_next_tick(
    app_client: TestClient, account: Any, servers: dict[str, str], worker_factory: Callable[..., WorkerProcess]
) -> None:
    """Runs handed out to a queue that Redis then loses (restarted without persistence) are enqueued again by
    the next tick, not when their hand-out mark expires (a lease, ten minutes by default)."""
    import json

    import redis

    from billrun.worker.app import make_celery

    broker = redis.Redis.from_url(servers["broker_url"])
    make_celery().control.purge()
    schedule = seed_fixed_schedule(app_client, end="2024-01-31")
    (run_id,) = materialize(schedule["id"], FEB)
    triggers.tick()
    assert runs(schedule["id"])[0].lease_expires_at is not None  # handed out, waiting in the queue

    def queued_runs() -> set[str]:
        found: set[str] = set()
        for raw in broker.lrange("celery", 0, -1):
            message = json.loads(raw)
            if message["headers"]["task"] == "billrun.execute_billing_runs":
                body = json.loads(base64.b64decode(message["body"]))
                found.update(body[0][0])
        return found

    assert str(run_id) in queued_runs()
    broker.flushdb()  # what a restart without persistence leaves
    triggers.tick()
    assert str(run_id) in queued_runs()
    triggers.tick()  # once only: the marker is back
    assert len([r for r in broker.lrange("celery", 0, -1) if str(run_id).encode() in r]) == 1
    worker_factory("after-restart")
    wait_for(lambda: _completed(schedule["id"]), timeout=60)
    assert len(invoices(schedule["id"])) == 1


def test_a_stored_amount_too_large_to_bill_fails_its_run_at_once(app_client: TestClient, account: Any) -> None:
    """A price stored before the input limits (``1E+999999999``) used to keep a worker busy for minutes; the
    run now fails permanently, in seconds, saying why."""
    from sqlalchemy import update

    from billrun.store.models import Price

    schedule = seed_fixed_schedule(app_client, end="2024-01-31")
    price_id = schedule["phases"][0]["priceIds"][0]
    with unit_of_work() as session:
        session.execute(
            update(Price)
            .where(Price.id == uuid.UUID(price_id))
            .values(structure={"pricingType": "FIXED", "price": "1E+999999999"})
        )
    (run_id,) = materialize(schedule["id"], FEB)
    started = time.monotonic()
    assert [o.status for o in execute_chunk([run_id])] == ["FAILED"]
    assert time.monotonic() - started < 10
    (run,) = runs(schedule["id"])
    assert run.next_retry_at is None and run.last_error is not None
    assert run.last_error["type"] == "permanent" and "outside the range" in run.last_error["message"]
    assert invoices(schedule["id"]) == []
    preview = app_client.post(f"/billing-runs/{run_id}/invoice-preview")
    assert preview.status_code == 422 and "outside the range" in preview.json()["error"]["message"]
