"""The Celery application (SPEC §6.3 settings) and the beat schedule (one tick entry, SPEC §6.2)."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_process_init
from kombu import Queue

from billrun import logs
from billrun.billing import faults
from billrun.config import get_settings
from billrun.worker.collector import tune_collector
from billrun.worker.dispatch import install

BILLING_QUEUE = "celery"
WEBHOOK_QUEUE = "webhooks"
BACKTEST_QUEUE = "backtests"


@setup_logging.connect
def _billrun_logging(loglevel: Any = None, **_: Any) -> None:
    """Celery's worker and beat log through billrun's setup (a connected receiver replaces Celery's own)."""
    logs.configure(level=loglevel)


@worker_process_init.connect
def _tune_worker_collector(**_: Any) -> None:
    tune_collector()


def make_celery() -> Celery:
    settings = get_settings()
    if not settings.broker_url:
        raise RuntimeError("BILLRUN_BROKER_URL is not set; run through the billrun CLI (embedded Redis)")
    app = Celery("billrun", broker=settings.broker_url, include=["billrun.worker.tasks"])
    app.conf.update(
        # At-least-once delivery; every task is idempotent, so redelivery is safe (SPEC §6.3, §6.5).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Must exceed the longest run, or Redis redelivers a task that is still running.
        # Unacked messages come back once the visibility timeout has passed; sweep for them often enough
        # that a short timeout (tests, tiny runs) is honoured (kombu otherwise scans every ~100 s).
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_seconds,
            "unacked_restore_interval": max(1, min(60, settings.visibility_timeout_seconds // 4)),
            "unacked_restore_throttle": 1,
        },
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        worker_hijack_root_logger=False,
        # deliveries wait on receivers (up to a timeout each): their own queue, which every worker consumes
        # by default, and which operators can give workers of its own (billrun worker --queues webhooks)
        # backtests re-rate months of schedules: their own queue too, so billing runs never wait behind them
        task_queues=(Queue(BILLING_QUEUE), Queue(WEBHOOK_QUEUE), Queue(BACKTEST_QUEUE)),
        task_default_queue=BILLING_QUEUE,
        task_routes={
            "billrun.deliver_webhooks": {"queue": WEBHOOK_QUEUE},
            "billrun.run_backtest": {"queue": BACKTEST_QUEUE},
        },
        broker_connection_retry_on_startup=True,
        beat_schedule={
            "billrun.tick": {"task": "billrun.tick", "schedule": settings.tick_seconds},
        },
    )
    faults.install_from_environment()  # crash tests only: a no-op unless BILLRUN_TEST_PAUSE_AT is set
    # shared_task proxies (and so the dispatcher) send through the current app.
    app.set_default()
    app.set_current()
    install(app)
    return app


_app: Celery | None = None


def celery() -> Celery:
    """The process's one Celery app (worker, beat and API share this accessor), made on first use."""
    global _app
    if _app is None:
        _app = make_celery()
    return _app


#: For ``celery -A billrun.worker.app:celery_app`` (the compose health check).
celery_app = celery() if get_settings().broker_url else None
