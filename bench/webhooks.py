"""``python -m bench webhooks --events N``: webhook deliveries per second by one worker process.

Writes N ``invoice.drafted`` events of one account through the outbox (1,000 per transaction, as a chunk of
runs writes them), subscribed by one endpoint on a loopback receiver in this process, then starts one
``billrun worker --queues webhooks --concurrency 1`` (prefork) process, enqueues the delivery task and times
until every delivery is DELIVERED. Each delivery is a signed POST on a new connection, and every pass
records its attempts in PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.receiver import Receiver
from billrun.domain.statuses import DeliveryStatus, EventType
from billrun.store.db import unit_of_work
from billrun.store.models import Account, WebhookDelivery

WORKER_ARGS = ("--queues", "webhooks", "--loglevel", "WARNING")


def _write_events(account_id: uuid.UUID, events: int) -> None:
    from billrun.billing import outbox

    data = {"id": "", "status": "DRAFT", "netTotal": "49.00", "lines": [{"title": "Platform", "amount": "49.00"}]}
    for start in range(0, events, 1000):
        with unit_of_work() as session:
            for n in range(start, min(events, start + 1000)):
                outbox.publish(session, account_id, EventType.INVOICE_DRAFTED, {**data, "id": str(n)})


def _delivered(account_id: uuid.UUID) -> int:
    with unit_of_work() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.account_id == account_id, WebhookDelivery.status == DeliveryStatus.DELIVERED)
            )
            or 0
        )


def main(events: int, results: Path) -> dict[str, Any]:
    from billrun.billing import webhook_endpoints
    from billrun.config import get_settings
    from billrun.store import migrate

    os.environ["BILLRUN_WEBHOOKS_ALLOW_PRIVATE"] = "1"  # the receiver listens on loopback, over http
    get_settings.cache_clear()
    migrate.upgrade("head")
    receiver = Receiver()
    with unit_of_work() as s:
        account = Account(name=f"bench-webhooks-{uuid.uuid4().hex[:6]}")
        s.add(account)
        s.flush()
        account_id = account.id
        webhook_endpoints.create(s, account_id, receiver.url, [], "bench receiver")
    started = time.perf_counter()
    _write_events(account_id, events)
    write_seconds = time.perf_counter() - started
    results.mkdir(exist_ok=True)
    log = open(results / "bench-webhooks-worker.log", "ab")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "billrun.cli", "worker", "--pool", "prefork", "--concurrency", "1", *WORKER_ARGS],
        stdout=log,
        stderr=log,
        env=dict(os.environ),
        start_new_session=True,
    )
    try:
        time.sleep(4)
        from billrun.worker.app import make_celery

        make_celery()  # installs the Celery dispatcher
        from billrun.billing.dispatch import dispatcher

        started = time.perf_counter()
        dispatcher().deliver_webhooks()
        while _delivered(account_id) < events:
            if worker.poll() is not None:
                raise RuntimeError("the worker exited; see bench/results/bench-webhooks-worker.log")
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        received = receiver.count
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        receiver.close()
    result = {
        "events": events,
        "outbox_write_seconds": round(write_seconds, 3),
        "deliver_seconds": round(elapsed, 3),
        "delivered_per_s": round(events / elapsed, 1),
        "received": received,
    }
    print(json.dumps(result))
    (results / f"webhooks-{events}.json").write_text(json.dumps(result) + "\n")
    return result
