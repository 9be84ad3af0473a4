"""Faults with real processes: a worker frozen mid-chunk for longer than its lease does not stop the others
from billing, and its runs are billed once, by someone; a task that loses the database mid-chunk takes its own
runs back when it is retried instead of leaving them to their lease."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
import uuid
from collections.abc import Callable
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


def test_a_postgresql_restart_is_503_then_recovery_without_restarting_the_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A PostgreSQL of its own, stopped in immediate mode under API traffic: 503 with Retry-After, never a 500;
    started again on the same port, the same API process answers 200 within seconds."""
    from billrun.api.app import create_app
    from billrun.embedded import EmbeddedPostgres, pg_bin_dir
    from billrun.store import migrate
    from billrun.store.accounts import create_account
    from billrun.store.db import dispose_engines
    from tests.conftest import reachable_tmp_dir

    pg = EmbeddedPostgres(reachable_tmp_dir("billrun-restart-"))
    pg.start()
    pg_ctl = str(pg_bin_dir() / "pg_ctl")
    options = f"-p {pg.port} -c listen_addresses=127.0.0.1 -k {pg.pgdata}"
    try:
        monkeypatch.setenv("BILLRUN_DATABASE_URL", pg.url())
        get_settings.cache_clear()
        migrate.upgrade("head")
        with unit_of_work() as session:
            new = create_account(session, "restart", rate_limit_per_minute=0)
        client = TestClient(create_app(install_dispatcher=False), base_url="http://testserver/api")
        client.auth = (new.api_key, new.api_secret)
        assert client.get("/products").status_code == 200

        pg._run([pg_ctl, "-D", str(pg.pgdata), "-m", "immediate", "-w", "stop"])
        for _ in range(3):
            down = client.get("/products")
            assert down.status_code == 503, down.text
            assert down.headers["Retry-After"] and down.json()["error"]["type"] == "serviceUnavailable"
        assert client.post("/products", json={"name": "P"}).status_code == 503

        pg._run([pg_ctl, "-D", str(pg.pgdata), "-l", str(pg.pgdata / "server.log"), "-o", options, "-w", "start"])
        deadline = time.monotonic() + 10
        while (answer := client.get("/products")).status_code != 200:
            assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
            time.sleep(0.2)
        assert client.post("/products", json={"name": "P"}).status_code == 201
    finally:
        dispose_engines()
        pg.stop()
        get_settings.cache_clear()
