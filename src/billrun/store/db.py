"""Engine, sessions and the unit of work. Use cases never commit: the entry point (request, task, CLI command,
traveller) opens the unit of work, which commits, and only then does what the work queued for after it."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from functools import lru_cache

import psycopg
import structlog
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from billrun import jsonutil
from billrun.config import get_settings

log = structlog.get_logger(__name__)


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


_AFTER_COMMIT = "billrun.after_commit"
_BEFORE_COMMIT = "billrun.before_commit"


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A transaction that commits when the block succeeds and rolls back otherwise. What the work queued with
    :func:`after_commit` (enqueue a task, count a metric) is done once the commit has succeeded, in the order
    queued, and dropped with a rollback: nothing is announced that did not happen. Such work failing (the
    broker out of reach) is logged, not raised: the transaction has committed."""
    session = session_factory()()
    try:
        yield session
        for action in session.info.pop(_BEFORE_COMMIT, {}).values():
            action()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        actions = session.info.pop(_AFTER_COMMIT, {})
        session.close()
    for key, action in actions.items():
        try:
            action()
        except Exception as exc:
            # The change is committed: failing the caller now (a 503 for a write that happened) would invite
            # a retry that does it twice. Every action has a backstop in the beat tick (runs handed out again,
            # the recalculation queue drained, webhook deliveries and stalled travellers swept).
            log.warning(
                "after-commit work failed; the next tick catches up",
                work=str(key) if isinstance(key, str | tuple) else getattr(action, "__qualname__", "?"),
                error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
            )


def before_commit(session: Session, action: Callable[[], None], key: Hashable) -> None:
    """Queue ``action`` for the end of the unit of work, in its transaction, once per ``key``: work that must
    see the transaction's final state and commit with it (the webhook outbox renders its events there)."""
    session.info.setdefault(_BEFORE_COMMIT, {}).setdefault(key, action)


def after_commit(session: Session, action: Callable[[], None], key: Hashable | None = None) -> None:
    """Queue ``action`` for after ``session`` commits. Actions queued under the same ``key`` run once (the
    first one queued); without a key, each runs."""
    actions: dict[Hashable, Callable[[], None]] = session.info.setdefault(_AFTER_COMMIT, {})
    actions.setdefault(object() if key is None else key, action)


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
