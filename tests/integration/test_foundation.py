"""Foundation: migrations on a real PostgreSQL, embedded servers, the CLI on embedded defaults."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, make_url, select, text

pytestmark = pytest.mark.integration


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_upgrade_downgrade_upgrade(scratch_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from billrun.config import get_settings
    from billrun.store import migrate
    from billrun.store.models import Base

    monkeypatch.setenv("BILLRUN_DATABASE_URL", scratch_database)
    get_settings.cache_clear()
    try:
        migrate.upgrade("head")
        assert set(Base.metadata.tables) <= _tables(scratch_database)
        migrate.downgrade("base")
        assert _tables(scratch_database) == {"alembic_version"}
        migrate.upgrade("head")
        assert "invoices" in _tables(scratch_database)
    finally:
        get_settings.cache_clear()


def test_downgrading_below_0016_rebuilds_the_id_tables_from_the_stored_events(
    scratch_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 0016 drops the last-wins id tables; going back rebuilds them from the events, so that the
    older code finds every id's highest ingestSeq."""
    import datetime as dt

    from sqlalchemy.orm import Session

    from billrun.config import get_settings
    from billrun.store import migrate
    from billrun.store.events import NewUsageEvent, insert_usage_events
    from billrun.store.models import Account

    monkeypatch.setenv("BILLRUN_DATABASE_URL", scratch_database)
    get_settings.cache_clear()
    engine = create_engine(scratch_database)
    try:
        migrate.upgrade("head")
        stamp = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
        with Session(engine) as session, session.begin():
            account = Account(name="downgrade")
            session.add(account)
            session.flush()
            for alias in ("first", "second"):  # two batches: "a" twice, "b" once
                batch = [NewUsageEvent("a", alias, "call", stamp, {})]
                if alias == "first":
                    batch.append(NewUsageEvent("b", alias, "call", stamp, {}))
                insert_usage_events(session, account.id, batch, stamp)
        with engine.connect() as conn:
            highest = dict(
                conn.execute(text("SELECT customer_event_id, max(ingest_seq) FROM usage_events GROUP BY 1")).all()
            )
        engine.dispose()
        migrate.downgrade("0015")
        with engine.connect() as conn:
            rebuilt = dict(conn.execute(text("SELECT customer_event_id, latest_seq FROM usage_event_ids")).all())
        engine.dispose()
        assert rebuilt == highest
        assert set(highest) == {"a", "b"}
        migrate.upgrade("head")
        assert "usage_event_ids" not in _tables(scratch_database)
    finally:
        engine.dispose()
        get_settings.cache_clear()


def test_migration_0017_interrupted_after_dropping_the_old_index_finishes_when_run_again(
    scratch_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 0017 swaps the usage lookup index outside a transaction, one step at a time: an upgrade that
    stopped between dropping the old index and renaming the new one must complete when it is run again."""
    from billrun.config import get_settings
    from billrun.store import migrate

    monkeypatch.setenv("BILLRUN_DATABASE_URL", scratch_database)
    get_settings.cache_clear()
    engine = create_engine(scratch_database)
    try:
        migrate.upgrade("0016")
        with engine.begin() as conn:  # where the first attempt stopped
            conn.execute(
                text(
                    "CREATE INDEX ix_usage_events_latest_lookup_new ON usage_events "
                    "(account_id, customer_alias, event_type, event_timestamp) INCLUDE (id) WHERE is_latest"
                )
            )
            conn.execute(text("DROP INDEX ix_usage_events_latest_lookup"))
        engine.dispose()
        migrate.upgrade("head")
        with engine.connect() as conn:
            definitions = conn.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'ix_usage_events_latest%'")
            ).all()
        assert [name for name, _ in definitions] == ["ix_usage_events_latest_lookup"]
        assert "INCLUDE (id)" in definitions[0][1]
    finally:
        engine.dispose()
        get_settings.cache_clear()


def test_schema_matches_models(database_url: str) -> None:
    """The migrations produce exactly what the models declare (no drift between the two)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from billrun.store.models import Base

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_live_invoice_unique_per_drafting_date(database_url: str) -> None:
    """Two live invoices for one (schedule, drafting date) are refused by the database itself."""
    import datetime as dt
    import uuid

    from sqlalchemy.exc import IntegrityError

    from billrun.store.db import unit_of_work
    from billrun.store.models import Account, BillingSchedule, Customer, Invoice

    now = dt.datetime.now(dt.UTC)
    with unit_of_work() as s:
        acc = Account(name="u")
        s.add(acc)
        s.flush()
        cust = Customer(account_id=acc.id, legal_name="c", address={})
        s.add(cust)
        s.flush()
        sched = BillingSchedule(
            account_id=acc.id,
            customer_id=cust.id,
            status="ACTIVE",
            start_date=dt.date(2024, 1, 1),
            recurrence_day_of_month=1,
            currency="GBP",
        )
        s.add(sched)
        s.flush()
        ids = (acc.id, cust.id, sched.id)

    def invoice(status: str) -> Invoice:
        return Invoice(
            id=uuid.uuid4(),
            account_id=ids[0],
            customer_id=ids[1],
            billing_schedule_id=ids[2],
            drafting_date=dt.date(2024, 2, 1),
            status=status,
            currency="GBP",
            created_at=now,
            updated_at=now,
        )

    with unit_of_work() as s:
        s.add(invoice("VOIDED"))
        s.add(invoice("DRAFT"))
    with pytest.raises(IntegrityError), unit_of_work() as s:
        s.add(invoice("DRAFT"))


def test_account_secret_is_hashed_and_authenticates(database_url: str) -> None:
    from billrun.credentials import verify_secret
    from billrun.store.accounts import create_account, credential
    from billrun.store.db import unit_of_work
    from billrun.store.models import ApiCredential

    with unit_of_work() as s:
        new = create_account(s, "acme")
    with unit_of_work() as s:
        stored = s.execute(select(ApiCredential.secret_hash).where(ApiCredential.api_key == new.api_key)).scalar_one()
        assert new.api_secret not in stored
        assert stored.startswith("scrypt$")
        dump = s.execute(text("SELECT string_agg(secret_hash, ',') FROM api_credentials")).scalar_one()
        assert new.api_secret not in dump
        found = credential(s, new.api_key)
        assert found is not None and found.account.id == new.id
        assert verify_secret(new.api_secret, found.secret_hash)
        assert not verify_secret(new.api_secret + "x", found.secret_hash)
        assert not verify_secret(new.api_secret + "\x00", found.secret_hash)
        assert credential(s, "key_nope") is None


def test_embedded_servers_start_serve_and_stop(open_tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path = open_tmp_path
    from billrun.embedded import embedded_services, pid_alive

    monkeypatch.delenv("BILLRUN_DATABASE_URL", raising=False)
    monkeypatch.delenv("BILLRUN_BROKER_URL", raising=False)
    with embedded_services(tmp_path) as services:
        assert services.postgres is not None and services.redis is not None
        url = make_url(os.environ["BILLRUN_DATABASE_URL"])
        with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database) as conn:
            assert conn.execute("SELECT 41 + 1").fetchone() == (42,)
        with socket.create_connection(("127.0.0.1", services.redis.port or 0), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            assert sock.recv(16).startswith(b"+PONG")
        pg_pid = int((tmp_path / "pg" / "postmaster.pid").read_text().splitlines()[0])
        redis_pid = int((tmp_path / "redis" / "redis.pid").read_text().strip())
        assert pid_alive(pg_pid) and pid_alive(redis_pid)
    assert not pid_alive(pg_pid)
    assert not pid_alive(redis_pid)
    assert "BILLRUN_DATABASE_URL" not in os.environ


def _clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLRUN_")}
    env["BILLRUN_DATA_DIR"] = str(data_dir)
    return env


def _billrun(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "billrun.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _leftover_processes(data_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "stat,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if str(data_dir) in line and not line.startswith("Z")]


def test_cli_on_embedded_defaults_leaves_nothing_running(open_tmp_path: Path) -> None:
    tmp_path = open_tmp_path
    env = _clean_env(tmp_path)
    upgraded = _billrun("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    created = _billrun("accounts", "create", "--name", "x", env=env)
    assert created.returncode == 0, created.stderr
    payload = json.loads(created.stdout.strip().splitlines()[-1])
    assert set(payload) == {"id", "apiKey", "apiSecret"}
    assert _leftover_processes(tmp_path) == []


def test_cli_help_on_every_command() -> None:
    for args in (
        ["--help"],
        ["db", "--help"],
        ["db", "upgrade", "--help"],
        ["accounts", "create", "--help"],
        ["api", "--help"],
        ["worker", "--help"],
        ["beat", "--help"],
    ):
        result = _billrun(*args, env=dict(os.environ))
        assert result.returncode == 0, (args, result.stderr)
        assert "usage: billrun" in result.stdout


def test_demo_prints_the_seed_invoice_and_leaves_nothing_running(open_tmp_path: Path) -> None:
    """`billrun demo` on a fresh data dir: embedded servers, a real worker process, the seed guide's invoice."""
    tmp_path = open_tmp_path
    result = _billrun("demo", env=_clean_env(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout)
    invoice = printed["invoice"]
    assert (invoice["netTotal"], invoice["totalTax"], invoice["grossTotal"]) == ("150.00", "30.00", "180.00")
    assert invoice["billingPeriod"] == {"start": "2024-01-01", "endInclusive": "2024-01-31"}
    assert invoice["status"] == "DRAFT" and invoice["billingRunId"]
    assert [(ln["quantity"], ln["rate"], ln["netTotal"]) for ln in printed["lineItems"]] == [("10", "15", "150.00")]
    assert _leftover_processes(tmp_path) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="the system user is only used under root")
def test_embedded_mode_never_changes_directories_it_did_not_create(open_tmp_path: Path) -> None:
    """Under root the embedded PostgreSQL runs as a system user; a private parent directory is named in the
    error and left as it was (earlier versions added o+x to every parent)."""
    from billrun.embedded import EmbeddedServerError, embedded_services

    private = open_tmp_path / "private"
    private.mkdir(mode=0o750)
    env = {k: os.environ.pop(k) for k in ("BILLRUN_DATABASE_URL", "BILLRUN_BROKER_URL") if k in os.environ}
    try:
        with pytest.raises(EmbeddedServerError, match=str(private)), embedded_services(private / "data"):
            pass
    finally:
        os.environ.update(env)
    assert private.stat().st_mode & 0o777 == 0o750


def test_a_process_using_anothers_embedded_servers_says_when_they_are_gone(open_tmp_path: Path) -> None:
    """`billrun api` starts the embedded servers; a `billrun worker` on the same data directory uses them.
    When the api stops (and its servers with it), the worker says why in its log and stops too."""
    env = {**_clean_env(open_tmp_path), "BILLRUN_LOG_FORMAT": "json"}
    owner = subprocess.Popen(
        [sys.executable, "-m", "billrun.cli", "api", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    log_path = open_tmp_path / "worker.log"
    user: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 60
        servers = (open_tmp_path / "redis" / "port", open_tmp_path / "pg" / "postmaster.pid")
        while not all(path.exists() for path in servers):
            assert owner.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(1)
        with open(log_path, "wb") as log:
            user = subprocess.Popen(
                [sys.executable, "-m", "billrun.cli", "worker", "--pool", "solo", "--concurrency", "1"],
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            deadline = time.monotonic() + 60
            while "ready." not in log_path.read_text(errors="replace"):
                assert user.poll() is None and time.monotonic() < deadline, log_path.read_text()[-2000:]
                time.sleep(0.2)
            assert "using an embedded server started by another billrun process" in log_path.read_text()
            os.killpg(owner.pid, signal.SIGTERM)
            owner.wait(timeout=60)
            assert user.wait(timeout=60) is not None
        assert "has stopped with the billrun process that started it" in log_path.read_text()
    finally:
        for proc in (owner, user):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
