"""Test session servers: real PostgreSQL and Redis.

With ``BILLRUN_DATABASE_URL`` / ``BILLRUN_BROKER_URL`` set (CI starts them through ``ops/services.sh``), the
session uses those servers; otherwise it starts the embedded ones (the same code production uses) and stops
them at the end. Each session works in a fresh database, migrated once and dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url


def reachable_tmp_dir(prefix: str) -> Path:
    """A new directory that an unprivileged user can enter (pytest's own tmp dirs are private to root, and
    under root the embedded PostgreSQL runs as a system user, which billrun never lets into them)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture
def open_tmp_path() -> Iterator[Path]:
    path = reachable_tmp_dir("billrun-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, str]]:
    from billrun.embedded import embedded_services

    data_dir = Path(os.environ.get("BILLRUN_TEST_DATA_DIR") or reachable_tmp_dir("billrun-servers-"))
    # Scenario runners poll time travellers many times a minute; the rate-limit test sets its own limit.
    os.environ.setdefault("BILLRUN_DEFAULT_RATE_LIMIT_PER_MINUTE", "0")
    # Webhook receivers in tests listen on loopback, over http; every process of the session shares one key.
    os.environ.setdefault("BILLRUN_WEBHOOKS_ALLOW_PRIVATE", "1")
    os.environ.setdefault("BILLRUN_SECRETS_KEY", "test-session-key-" + uuid.uuid4().hex)
    with embedded_services(data_dir):
        yield {
            "database_url": os.environ["BILLRUN_DATABASE_URL"],
            "broker_url": os.environ["BILLRUN_BROKER_URL"],
        }


def _admin_execute(server_url: str, sql: str) -> None:
    import psycopg

    url = make_url(server_url)
    with psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def database_url(servers: dict[str, str]) -> Iterator[str]:
    """A fresh, migrated database for this test session; BILLRUN_DATABASE_URL points at it."""
    from billrun.config import get_settings
    from billrun.store import migrate
    from billrun.store.db import dispose_engines

    name = f"billrun_test_{uuid.uuid4().hex[:10]}"
    _admin_execute(servers["database_url"], f'CREATE DATABASE "{name}"')
    url = make_url(servers["database_url"]).set(database=name).render_as_string(hide_password=False)
    previous = os.environ["BILLRUN_DATABASE_URL"]
    os.environ["BILLRUN_DATABASE_URL"] = url
    get_settings.cache_clear()
    migrate.upgrade("head")
    try:
        yield url
    finally:
        dispose_engines()
        os.environ["BILLRUN_DATABASE_URL"] = previous
        get_settings.cache_clear()
        _admin_execute(servers["database_url"], f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def scratch_database(servers: dict[str, str]) -> Iterator[str]:
    """An empty database (no migrations) for tests of the schema lifecycle itself."""
    name = f"billrun_scratch_{uuid.uuid4().hex[:10]}"
    _admin_execute(servers["database_url"], f'CREATE DATABASE "{name}"')
    try:
        yield make_url(servers["database_url"]).set(database=name).render_as_string(hide_password=False)
    finally:
        _admin_execute(servers["database_url"], f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
