"""A worker process tunes the garbage collector when Celery starts it (billrun.worker.collector)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from celery.signals import worker_process_init


@pytest.fixture
def restored_collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_a_started_worker_process_freezes_and_raises_the_thresholds(restored_collector: None) -> None:
    import billrun.worker.app  # noqa: F401  (connects the receiver)

    assert gc.get_threshold() != (10_000, 20, 100)
    worker_process_init.send(sender=None)
    assert gc.get_threshold() == (10_000, 20, 100)
    assert gc.get_freeze_count() > 0
