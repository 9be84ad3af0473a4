"""Engine and session factory. Services never commit: the request, task or CLI command does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import psycopg
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from billrun import jsonutil
from billrun.config import get_settings


def database_url() -> str:
    url = get_settings().database_url
    if not url:
        raise RuntimeError(
            "BILLRUN_DATABASE_URL is not set; run through the billrun CLI, which starts the embedded PostgreSQL"
        )
    return url


#: An unreachable server fails a connection attempt within seconds instead of the kernel's TCP timeout.
CONNECT_ARGS = {"connect_timeout": 10}


@lru_cache(maxsize=4)
def _engine(url: str) -> Engine:
    return create_engine(
        url,
        connect_args=CONNECT_ARGS,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        json_serializer=jsonutil.dumps,
        json_deserializer=jsonutil.loads,
    )


def get_engine() -> Engine:
    url = database_url()
    _known_urls.add(url)
    return _engine(url)


def session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A transaction that commits when the block succeeds and rolls back otherwise."""
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_engines() -> None:
    """Close pooled connections (after fork, and before stopping an embedded server)."""
    for url in list(_known_urls):
        _engine(url).dispose()
    _engine.cache_clear()
    _known_urls.clear()


_known_urls: set[str] = set()


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the database went away (a restart, a dropped or terminated connection), as opposed
    to a statement that failed: the work can simply be tried again on a new connection in a moment."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", exc)
    if not isinstance(orig, psycopg.OperationalError):
        return False
    sqlstate = orig.sqlstate
    return sqlstate is None or sqlstate.startswith(("08", "57P", "25P03"))
