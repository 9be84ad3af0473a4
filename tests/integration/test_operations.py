"""billrun as an operator runs it: the CLI's errors, accounts administration, structured logs, the beat under
an unprivileged user, and the API's front door, against real PostgreSQL, Redis and worker processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url

from tests.integration.conftest import WorkerProcess, seed_fixed_schedule, wait_for

pytestmark = pytest.mark.integration


def billrun(*args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "billrun.cli", *args],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], status: int, *words: str) -> str:
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def test_bad_cli_input_is_one_error_line_and_a_non_zero_exit(database_url: str) -> None:
    assert_one_line_error(billrun("run", "--date", "2024-13-45"), 2, "2024-13-45", "YYYY-MM-DD")
    assert_one_line_error(billrun("run", "--schedule", "not-a-uuid"), 2, "not-a-uuid")
    unknown = str(uuid.uuid4())
    assert_one_line_error(billrun("run", "--schedule", unknown, "--quiet"), 1, unknown, "not found")
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    unreachable = f"postgres://postgres@127.0.0.1:{closed}/billrun"
    line = assert_one_line_error(billrun("run", env={"BILLRUN_DATABASE_URL": unreachable}), 1, "database")
    assert f"127.0.0.1:{closed}" in line
    assert_one_line_error(billrun("db", "current", env={"BILLRUN_DATABASE_URL": "mysql://x@y/z"}), 1, "PostgreSQL URL")
    assert_one_line_error(billrun("frobnicate"), 2, "frobnicate")
    debug = billrun("--debug", "run", "--schedule", unknown, "--quiet")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_a_future_date_is_refused_with_a_non_zero_exit(app_client: TestClient, account: Any) -> None:
    schedule = seed_fixed_schedule(app_client)
    result = billrun("run", "--schedule", schedule["id"], "--date", "2999-01-01", "--quiet")
    assert_one_line_error(result, 1, schedule["id"], "2999-01-01")


def test_postgres_urls_mean_psycopg(database_url: str) -> None:
    url = make_url(database_url)
    for scheme in ("postgres", "postgresql"):
        plain = url.set(drivername=scheme).render_as_string(hide_password=False)
        result = billrun("db", "current", env={"BILLRUN_DATABASE_URL": plain})
        assert result.returncode == 0, result.stderr
        assert "up to date" in result.stdout


def test_db_commands_say_what_they_did(scratch_database: str) -> None:
    env = {"BILLRUN_DATABASE_URL": scratch_database}
    assert billrun("db", "current", env=env).stdout.startswith("empty database")
    upgraded = billrun("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "applied 0001: initial schema" in upgraded.stdout
    assert billrun("db", "upgrade", env=env).stdout.startswith("nothing applied")
    history = billrun("db", "history", env=env).stdout.splitlines()
    assert history and all(line.startswith("[x] ") for line in history)


def test_a_busy_port_is_an_error_line(database_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert_one_line_error(billrun("api", "--port", str(port)), 1, str(port), "in use")


def test_accounts_administration(app_client: TestClient, account: dict[str, str]) -> None:
    account_id = account["id"]
    listed = json.loads(billrun("accounts", "list").stdout)
    assert account_id in [a["id"] for a in listed]
    shown = json.loads(billrun("accounts", "show", account_id).stdout)
    assert shown["apiKeys"] == [account["apiKey"]] and "apiSecret" not in shown

    updated = billrun("accounts", "update", account_id, "--invoice-number-prefix", "ACME-", "--payment-term-days", "14")
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout)["invoiceNumberPrefix"] == "ACME-"
    assert json.loads(billrun("accounts", "show", account_id).stdout)["paymentTermDays"] == 14
    assert_one_line_error(billrun("accounts", "update", account_id, "--payment-term-days", "-1"), 1, "between")
    assert_one_line_error(billrun("accounts", "show", str(uuid.uuid4())), 1, "no account")

    assert app_client.get("/products").status_code == 200
    rotated = json.loads(billrun("accounts", "rotate-secret", account_id).stdout)
    assert rotated["apiSecret"] != account["apiSecret"]
    assert app_client.get("/products").status_code == 401  # the old pair, in an API that had verified it
    app_client.auth = (rotated["apiKey"], rotated["apiSecret"])
    assert app_client.get("/products").status_code == 200

    assert billrun("accounts", "disable", account_id).returncode == 0
    assert app_client.get("/products").status_code == 401
    assert billrun("accounts", "enable", account_id).returncode == 0
    assert app_client.get("/products").status_code == 200


def test_worker_logs_of_a_billing_run_are_json_with_its_ids(
    app_client: TestClient, account: Any, worker_factory: Callable[..., WorkerProcess]
) -> None:
    worker = worker_factory("json-worker", env={"BILLRUN_LOG_FORMAT": "json"}, concurrency=1)
    schedule = seed_fixed_schedule(app_client)
    queued = app_client.post(f"/billing/execution/billing-schedules/{schedule['id']}/for-date/2024-02-01")
    assert queued.status_code == 202, queued.text

    def billed() -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in worker.log_path.read_text().splitlines() if line.strip()]
        return [x for x in lines if x["event"] == "billing run completed" and x["schedule_id"] == schedule["id"]]

    def every_line() -> list[dict[str, Any]]:
        return [json.loads(line) for line in worker.log_path.read_text().splitlines() if line.strip()]

    def chunk_logged() -> bool:
        return any(x["event"] == "billing chunk executed" and x["chunk_size"] >= 1 for x in every_line())

    wait_for(lambda: len(billed()) == 1, timeout=60)  # January, billed in arrears on 2024-02-01
    # the chunk's summary is logged after its runs' lines (once the chunk is done): wait for it, not race it
    wait_for(chunk_logged, timeout=30)
    # every line up to here parses (Celery's own "Warm shutdown" notice on stop is printed, not logged)
    every = every_line()
    assert all({"timestamp", "level", "event", "process"} <= set(x) for x in every)
    (run,) = billed()
    assert run["drafting_date"] == "2024-02-01" and run["account_id"] == account["id"]
    assert run["run_id"] and run["invoice_id"] and run["process"] == "worker"


def test_the_front_door_and_offline_docs(app_client: TestClient) -> None:
    root = TestClient(app_client.app)
    first = root.get("/", follow_redirects=False)
    assert first.status_code in (307, 308) and first.headers["location"] == "/api/docs"
    page = root.get("/api/docs").text
    assert "cdn" not in page.lower() and "/api/docs/assets/swagger-ui-bundle.js" in page
    bundle = root.get("/api/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert root.get("/api/docs/assets/swagger-ui.css").status_code == 200


def test_metrics_can_require_a_bearer_token(app_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from billrun.config import get_settings

    root = TestClient(app_client.app)
    assert root.get("/metrics").status_code == 200  # unset: open, as before
    monkeypatch.setenv("BILLRUN_METRICS_TOKEN", "s3cret")
    get_settings.cache_clear()
    try:
        assert root.get("/metrics").status_code == 401
        assert root.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        scraped = root.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert scraped.status_code == 200 and "billrun_billing_runs" in scraped.text
    finally:
        monkeypatch.delenv("BILLRUN_METRICS_TOKEN")
        get_settings.cache_clear()
