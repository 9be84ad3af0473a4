"""The Celery-backed dispatcher that billing enqueues through. Tasks are sent by name after the caller's
commit, on the app configured from ``BILLRUN_BROKER_URL``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from celery import Celery

from billrun.billing.dispatch import set_dispatcher
from billrun.domain.statuses import Trigger

QUEUE_MARKER = "billrun:queue-alive"
WEBHOOK_WAKE = "billrun:webhooks:wake"


class CeleryDispatcher:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def _send(self, name: str, args: list[Any], countdown: float | None = None) -> None:
        self.app.send_task(name, args=args, countdown=countdown)

    def execute_runs(self, run_ids: Sequence[uuid.UUID], manual: bool = False) -> None:
        if run_ids:
            self._send("billrun.execute_billing_runs", [[str(r) for r in run_ids], Trigger.MANUAL if manual else None])

    def advance_traveller(self, traveller_id: uuid.UUID) -> None:
        self._send("billrun.advance_time_traveller", [str(traveller_id)])

    def recalculate_pending(self, delay_seconds: float = 0) -> None:
        self._send("billrun.recalculate_pending", [], countdown=delay_seconds or None)

    def deliver_webhooks(self, delay_seconds: float = 0) -> None:
        """At once: always (deliveries just committed). Delayed (the next retry): one wake-up at a time, or
        every delivery task would keep its own chain of wake-ups alive."""
        if delay_seconds > 0:
            with self.app.connection_for_write() as connection:
                client = connection.default_channel.client
                if not client.set(WEBHOOK_WAKE, "1", nx=True, px=max(1, int(delay_seconds * 1000))):
                    return
        self._send("billrun.deliver_webhooks", [], countdown=delay_seconds or None)

    def run_backtest(self, backtest_id: uuid.UUID) -> None:
        self._send("billrun.run_backtest", [str(backtest_id)])

    def queue_was_lost(self) -> bool:
        """A marker key lives in the broker's Redis next to the queues: if it is gone, so are they (a restart
        without persistence, a flush, a failover to an empty replica). Setting it again answers True once."""
        with self.app.connection_for_write() as connection:
            client = connection.default_channel.client
            return bool(client.set(QUEUE_MARKER, "1", nx=True))


def install(app: Celery) -> None:
    set_dispatcher(CeleryDispatcher(app))
