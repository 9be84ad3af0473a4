"""Where billing enqueues work. The worker and the API install a Celery-backed dispatcher at start-up;
billing itself never imports Celery (DESIGN: billing never imports worker)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol


class Dispatcher(Protocol):
    def execute_runs(self, run_ids: Sequence[uuid.UUID], manual: bool = False) -> None: ...

    def advance_traveller(self, traveller_id: uuid.UUID) -> None: ...

    def recalculate_pending(self, delay_seconds: float = 0) -> None: ...

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

    def queue_was_lost(self) -> bool:
        return False


_dispatcher: Dispatcher = NoDispatcher()


def set_dispatcher(dispatcher: Dispatcher) -> None:
    global _dispatcher
    _dispatcher = dispatcher


def dispatcher() -> Dispatcher:
    return _dispatcher
