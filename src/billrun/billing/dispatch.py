"""Where billing enqueues work. The worker and the API install a Celery-backed dispatcher at start-up;
billing itself never imports Celery (DESIGN: billing never imports worker). Work that a transaction causes is
enqueued through its unit of work (:func:`advance_after_commit`, :func:`drain_after_commit`): only once it
has committed, and once however often it was asked for."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.orm import Session

from billrun.config import get_settings
from billrun.store.db import after_commit


class Dispatcher(Protocol):
    def execute_runs(self, run_ids: Sequence[uuid.UUID], manual: bool = False) -> None: ...

    def advance_traveller(self, traveller_id: uuid.UUID) -> None: ...

    def recalculate_pending(self, delay_seconds: float = 0) -> None: ...

    def deliver_webhooks(self, delay_seconds: float = 0) -> None: ...

    def run_backtest(self, backtest_id: uuid.UUID) -> None: ...

    def queue_was_lost(self) -> bool:
        """True once after the broker lost its queued tasks (restarted empty): what was handed out must be
        handed out again now, not when its hand-out mark expires."""
        ...


class NoDispatcher:
    """Drops work on the floor: for processes that only read (and for tests of pure planning)."""

    def execute_runs(self, run_ids: Sequence[uuid.UUID], manual: bool = False) -> None:
        return None

    def advance_traveller(self, traveller_id: uuid.UUID) -> None:
        return None

    def recalculate_pending(self, delay_seconds: float = 0) -> None:
        return None

    def deliver_webhooks(self, delay_seconds: float = 0) -> None:
        return None

    def run_backtest(self, backtest_id: uuid.UUID) -> None:
        return None

    def queue_was_lost(self) -> bool:
        return False


_dispatcher: Dispatcher = NoDispatcher()


def set_dispatcher(dispatcher: Dispatcher) -> None:
    global _dispatcher
    _dispatcher = dispatcher


def dispatcher() -> Dispatcher:
    return _dispatcher


def advance_after_commit(session: Session, traveller_id: uuid.UUID) -> None:
    """Wake a time traveller once ``session`` commits."""
    after_commit(session, lambda: dispatcher().advance_traveller(traveller_id), ("advance_traveller", traveller_id))


def drain_after_commit(session: Session) -> None:
    """Drain the recalculation queue, after the debounce, once ``session`` commits."""
    after_commit(session, drain_soon, "recalculate_pending")


def drain_soon() -> None:
    """Drain the recalculation queue once the debounce has passed (SPEC §5.7)."""
    dispatcher().recalculate_pending(get_settings().recalc_debounce_seconds)


def deliver_after_commit(session: Session) -> None:
    """Deliver the webhook events ``session`` wrote, once it commits (the tick sweeps what this loses)."""
    after_commit(session, lambda: dispatcher().deliver_webhooks(), "deliver_webhooks")
