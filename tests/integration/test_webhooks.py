"""Webhooks against real PostgreSQL, Redis, worker processes and an HTTP receiver on loopback: the outbox is
written with the change or not at all, deliveries are signed (verified with the ``standardwebhooks``
library), retried, survive a killed worker and a broker that lost its tasks, and never reach a private address
unless the operator allows it."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, text, update
from standardwebhooks import Webhook

from billrun.billing import lifecycle, outbox, triggers, webhook_delivery
from billrun.billing.chunk import execute_chunk
from billrun.config import get_settings
from billrun.store import webhooks as webhook_repo
from billrun.store.db import unit_of_work
from billrun.store.models import Invoice, WebhookDelivery, WebhookEndpoint, WebhookEvent, WebhookOutbox
from billrun.webhooks import transport
from billrun.webhooks.sealing import unseal
from tests.integration.conftest import WorkerProcess, seed_fixed_schedule, wait_for
from tests.integration.test_exactly_once import FEB, invoices, materialize
from tests.webhook_receiver import Receiver, receiver

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def no_endpoints_left(database_url: str) -> Iterator[None]:
    """Each test's endpoints (and their deliveries) go with it: later passes must not post to its receiver."""
    yield
    with unit_of_work() as s:
        s.execute(delete(WebhookEndpoint))


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def subscribe(client: TestClient, url: str, types: list[str] | None = None) -> dict[str, Any]:
    response = client.post("/webhook-endpoints", json={"url": url, **({"eventTypes": types} if types else {})})
    assert response.status_code == 201, response.text
    return dict(response.json())


def drafted_invoice(client: TestClient) -> dict[str, Any]:
    """A DRAFT engine invoice (E28's January), billed by a chunk."""
    schedule = seed_fixed_schedule(client, end="2024-01-31")
    execute_chunk(materialize(schedule["id"], FEB))
    (invoice,) = invoices(schedule["id"])
    return dict(client.get(f"/invoices/{invoice.id}").json())


def deliveries(client: TestClient, **filters: str) -> list[dict[str, Any]]:
    response = client.get("/webhook-deliveries", params={"limit": 100, **filters})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_the_secret_is_shown_once_and_stored_sealed(app_client: TestClient, account: Any, hooks: Receiver) -> None:
    created = subscribe(app_client, hooks.url)
    secret = created["secret"]
    assert secret.startswith("whsec_") and created["status"] == "ENABLED" and created["eventTypes"] == []
    fetched = app_client.get(f"/webhook-endpoints/{created['id']}").json()
    assert "secret" not in fetched and fetched["url"] == hooks.url
    assert all("secret" not in e for e in app_client.get("/webhook-endpoints").json()["items"])
    with unit_of_work() as s:
        stored = s.get(WebhookEndpoint, uuid.UUID(created["id"]))
        assert stored is not None
        assert secret not in stored.sealed_secret and secret.removeprefix("whsec_") not in stored.sealed_secret
        assert unseal(stored.sealed_secret) == secret


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/hooks", "https"),
        ("https://127.0.0.1/hooks", "loopback"),
        ("https://localhost:8443/hooks", "loopback"),
        ("https://[::1]/hooks", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://10.1.2.3/hooks", "private"),
        ("https://[::ffff:192.168.0.1]/hooks", "private"),
        ("https://100.64.0.1/hooks", "shared"),
        ("https://user:pw@example.com/hooks", "credentials"),
        ("ftp://example.com/", "https"),
    ],
)
def test_a_private_or_plain_http_url_is_refused_without_the_operator_flag(
    app_client: TestClient, account: Any, monkeypatch: pytest.MonkeyPatch, url: str, why: str
) -> None:
    monkeypatch.setenv("BILLRUN_WEBHOOKS_ALLOW_PRIVATE", "0")
    get_settings.cache_clear()
    try:
        response = app_client.post("/webhook-endpoints", json={"url": url})
        assert response.status_code == 400, response.text
        (error,) = response.json()["error"]["errors"]
        assert error["key"] == "url" and why in error["message"], error
        assert app_client.post("/webhook-endpoints", json={"url": "https://example.com/hooks"}).status_code == 201
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_name_that_resolves_to_a_private_address_is_refused_when_delivering(
    hooks: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name was public when saved; at delivery it resolves to loopback, and nothing is
    sent (the resolver is the only stand-in here: the receiver listening on that address is real)."""
    port = int(hooks.url.split(":")[2].split("/")[0])
    real = socket.getaddrinfo

    def rebound(host: str, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "hooks.example.com" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebound)
    url = f"http://hooks.example.com:{port}/hooks"
    refused = transport.post(url.replace("http:", "https:"), b"{}", {}, 5, allow_private=False)
    assert refused.status is None and refused.error is not None and "loopback" in refused.error
    allowed = transport.post(url, b"{}", {}, 5, allow_private=True)  # the same name, the operator's flag on
    assert allowed.status == 200
    assert len(hooks.requests) == 1


def event_types(resource_id: str) -> list[str]:
    """The types of the events about ``resource_id``, once the outbox is fanned out."""
    with unit_of_work() as s:
        webhook_repo.fan_out(s, 10_000, outbox.finish)
    with unit_of_work() as s:
        return sorted(s.scalars(select(WebhookEvent.type).where(WebhookEvent.body.contains(resource_id))))


def test_an_event_exists_only_if_its_change_committed(app_client: TestClient, account: Any, hooks: Receiver) -> None:
    subscribe(app_client, hooks.url)
    invoice = drafted_invoice(app_client)
    assert event_types(invoice["id"]) == ["invoice.drafted"]
    with pytest.raises(RuntimeError), unit_of_work() as s:
        found = s.get(Invoice, uuid.UUID(invoice["id"]), with_for_update=True)
        assert found is not None
        lifecycle.apply_action(s, found, "finalize")
        raise RuntimeError("the transaction fails after the change")
    assert event_types(invoice["id"]) == ["invoice.drafted"]
    assert app_client.post(f"/invoices/{invoice['id']}/finalize").status_code == 200
    assert event_types(invoice["id"]) == ["invoice.drafted", "invoice.finalized"]


def test_a_chunk_writes_its_events_in_its_own_transaction_with_data_as_get_serves_it(
    app_client: TestClient, account: Any, hooks: Receiver
) -> None:
    endpoint = subscribe(app_client, hooks.url, ["invoice.drafted"])
    schedules = [seed_fixed_schedule(app_client, end="2024-01-31", amount=str(100 + i)) for i in range(5)]
    run_ids = [r for s in schedules for r in materialize(s["id"], FEB)]
    execute_chunk(run_ids)
    made = [i for s in schedules for i in invoices(s["id"])]
    assert len(made) == 5
    with unit_of_work() as s:
        # one transaction wrote the invoices and the outbox row of their events: the same xmin on every row
        xmins = s.execute(
            text(
                "SELECT DISTINCT xmin::text FROM invoices WHERE id = ANY(:ids) "
                "UNION SELECT xmin::text FROM webhook_outbox WHERE strpos(content, :endpoint) > 0"
            ),
            {"ids": [i.id for i in made], "endpoint": endpoint["id"]},
        ).all()
        outboxed = s.scalars(
            select(WebhookOutbox.deliveries).where(WebhookOutbox.content.contains(endpoint["id"]))
        ).all()
    assert len(xmins) == 1
    assert outboxed == [5]  # one row for the chunk, one delivery per invoice in it
    webhook_delivery.deliver_due(budget_seconds=30)
    payloads = hooks.unique(endpoint["secret"])
    assert len(payloads) == 5 == len(hooks.requests)
    by_invoice = {p["data"]["id"]: p for p in payloads.values()}
    for invoice in made:
        payload = by_invoice[str(invoice.id)]
        assert payload["type"] == "invoice.drafted"
        assert payload["data"] == app_client.get(f"/invoices/{invoice.id}").json()


def test_only_the_subscribed_types_are_delivered(app_client: TestClient, account: Any, hooks: Receiver) -> None:
    endpoint = subscribe(app_client, hooks.url, ["invoice.voided"])
    invoice = drafted_invoice(app_client)
    app_client.post(f"/invoices/{invoice['id']}/finalize")
    voided = app_client.post(f"/invoices/{invoice['id']}/void").json()
    webhook_delivery.deliver_due(budget_seconds=30)
    (payload,) = hooks.verified(endpoint["secret"])
    assert payload["type"] == "invoice.voided" and payload["data"] == voided


def test_the_outbox_is_fanned_out_once_without_the_endpoints_deleted_meanwhile(
    app_client: TestClient, account: Any, hooks: Receiver
) -> None:
    kept = subscribe(app_client, hooks.url)
    gone = subscribe(app_client, hooks.url)
    invoice = drafted_invoice(app_client)
    assert deliveries(app_client) == []  # still one outbox row: listed once fanned out
    assert app_client.delete(f"/webhook-endpoints/{gone['id']}").status_code == 200
    with unit_of_work() as first, unit_of_work() as second:
        # two passes at once: the second skips the row the first holds
        assert webhook_repo.fan_out(first, 10_000, outbox.finish) >= 1
        assert webhook_repo.fan_out(second, 10_000, outbox.finish) == 0
    with unit_of_work() as s:
        assert webhook_repo.fan_out(s, 10_000, outbox.finish) == 0  # and nothing is left to fan out again
    (made,) = deliveries(app_client)
    assert (made["endpointId"], made["eventType"], made["status"]) == (kept["id"], "invoice.drafted", "PENDING")
    webhook_delivery.deliver_due(budget_seconds=30)
    (payload,) = hooks.verified(kept["secret"])
    assert payload["data"] == invoice


def test_a_5xx_is_retried_after_backoff_with_the_same_id_and_a_4xx_is_final(
    app_client: TestClient, account: Any, hooks: Receiver
) -> None:
    endpoint = subscribe(app_client, hooks.url)
    hooks.statuses = [503]
    drafted_invoice(app_client)
    webhook_delivery.deliver_due(budget_seconds=30)
    (pending,) = deliveries(app_client)
    assert pending["status"] == "PENDING" and pending["attemptCount"] == 1
    assert pending["attempts"][0]["httpStatus"] == 503 and pending["attempts"][0]["responseBody"] == "ok"
    wait = (dt.datetime.fromisoformat(pending["nextAttemptAt"]) - dt.datetime.now(dt.UTC)).total_seconds()
    assert 3 < wait <= 6.5  # about 5 s, with up to 20% jitter
    webhook_delivery.deliver_due(budget_seconds=30)
    assert len(hooks.requests) == 1  # not due yet
    time.sleep(wait + 0.2)
    webhook_delivery.deliver_due(budget_seconds=30)
    (done,) = deliveries(app_client)
    assert done["status"] == "DELIVERED" and [a["httpStatus"] for a in done["attempts"]] == [503, 200]
    first, second = hooks.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == done["eventId"]
    assert len(hooks.unique(endpoint["secret"])) == 1

    hooks.statuses = [410]
    invoice_id = hooks.verified(endpoint["secret"])[0]["data"]["id"]
    assert app_client.post(f"/invoices/{invoice_id}/finalize").status_code == 200
    webhook_delivery.deliver_due(budget_seconds=30)
    (failed,) = deliveries(app_client, eventType="invoice.finalized")
    assert failed["status"] == "FAILED" and "nextAttemptAt" not in failed  # not retried
    assert app_client.post(f"/webhook-deliveries/{failed['id']}/retry").status_code == 202
    webhook_delivery.deliver_due(budget_seconds=30)
    (retried,) = deliveries(app_client, eventType="invoice.finalized")
    assert retried["status"] == "DELIVERED" and [a["httpStatus"] for a in retried["attempts"]] == [410, 200]


def test_an_endpoint_failing_for_five_days_is_disabled_and_says_so(
    app_client: TestClient, account: Any, hooks: Receiver
) -> None:
    endpoint = subscribe(app_client, hooks.url)
    with unit_of_work() as s:
        s.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == uuid.UUID(endpoint["id"]))
            .values(failing_since=dt.datetime.now(dt.UTC) - dt.timedelta(days=5, minutes=1))
        )
    hooks.statuses = [500]
    drafted_invoice(app_client)
    webhook_delivery.deliver_due(budget_seconds=30)
    disabled = app_client.get(f"/webhook-endpoints/{endpoint['id']}").json()
    assert disabled["status"] == "DISABLED" and "5 days" in disabled["disabledReason"]
    with unit_of_work() as s:  # due again, but its endpoint is disabled: not attempted
        s.execute(update(WebhookDelivery).values(next_attempt_at=dt.datetime.now(dt.UTC)))
    webhook_delivery.deliver_due(budget_seconds=30)
    assert len(hooks.requests) == 1
    enabled = app_client.put(
        f"/webhook-endpoints/{endpoint['id']}", json={"url": hooks.url, "status": "ENABLED"}
    ).json()
    assert enabled["status"] == "ENABLED" and "disabledAt" not in enabled
    webhook_delivery.deliver_due(budget_seconds=30)
    assert [d["status"] for d in deliveries(app_client)] == ["DELIVERED"]


def test_during_a_rotation_both_secrets_verify(app_client: TestClient, account: Any, hooks: Receiver) -> None:
    endpoint = subscribe(app_client, hooks.url)
    rotated = app_client.post(f"/webhook-endpoints/{endpoint['id']}/rotate-secret").json()
    assert rotated["secret"] != endpoint["secret"] and rotated["previousSecretExpiresAt"]
    drafted_invoice(app_client)
    webhook_delivery.deliver_due(budget_seconds=30)
    (request,) = hooks.requests
    for secret in (endpoint["secret"], rotated["secret"]):
        assert Webhook(secret).verify(request.body, request.headers)["type"] == "invoice.drafted"
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(request.body, request.headers)


# --- with real worker processes -------------------------------------------------------------------------------


def test_a_worker_delivers_a_500_then_200_again_with_the_same_id(
    app_client: TestClient, account: Any, hooks: Receiver, worker_factory: Callable[..., WorkerProcess]
) -> None:
    endpoint = subscribe(app_client, hooks.url)
    hooks.statuses = [500]
    worker_factory("webhooks")
    drafted_invoice(app_client)  # its commit enqueues the delivery; the retry is the worker's own wake-up
    wait_for(lambda: len(hooks.requests) == 2, timeout=30)
    first, second = hooks.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert 4 <= second.at - first.at <= 15
    wait_for(lambda: [d["status"] for d in deliveries(app_client)] == ["DELIVERED"], timeout=10)
    assert len(hooks.unique(endpoint["secret"])) == 1


def test_a_worker_killed_mid_delivery_is_redelivered_after_restart(
    app_client: TestClient, account: Any, hooks: Receiver, worker_factory: Callable[..., WorkerProcess]
) -> None:
    env = {"BILLRUN_WEBHOOKS_TIMEOUT_SECONDS": "3"}
    endpoint = subscribe(app_client, hooks.url)
    hooks.hang_seconds = 2.5  # the receiver is still answering when the worker dies
    doomed = worker_factory("doomed", env)
    drafted_invoice(app_client)
    wait_for(lambda: len(hooks.requests) == 1, timeout=30)
    doomed.kill()
    (leased,) = deliveries(app_client)
    assert leased["status"] == "PENDING" and leased["attempts"] == []
    worker_factory("after-kill", env)
    # the lease (timeout x 4 + 5 s) runs out; the tick's sweep hands the delivery out again
    deadline = time.monotonic() + 60
    while len(hooks.requests) < 2:
        assert time.monotonic() < deadline, deliveries(app_client)
        triggers.tick()
        time.sleep(1)
    wait_for(lambda: [d["status"] for d in deliveries(app_client)] == ["DELIVERED"], timeout=15)
    first, second = hooks.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert len(hooks.unique(endpoint["secret"])) == 1


def test_deliveries_whose_tasks_the_broker_lost_are_swept_by_the_tick(
    app_client: TestClient,
    account: Any,
    hooks: Receiver,
    servers: dict[str, str],
    worker_factory: Callable[..., WorkerProcess],
) -> None:
    import redis

    endpoint = subscribe(app_client, hooks.url)
    drafted_invoice(app_client)  # no worker yet: the delivery task waits in Redis
    broker = redis.Redis.from_url(servers["broker_url"])
    assert broker.llen("webhooks") >= 1
    broker.flushdb()  # what a restart without persistence leaves
    worker_factory("after-restart")
    time.sleep(3)
    assert hooks.requests == []  # lost with the broker
    triggers.tick()
    wait_for(lambda: len(hooks.requests) == 1, timeout=30)
    wait_for(lambda: [d["status"] for d in deliveries(app_client)] == ["DELIVERED"], timeout=15)
    assert len(hooks.unique(endpoint["secret"])) == 1


def test_metrics_count_deliveries_and_pending(app_client: TestClient, account: Any, hooks: Receiver) -> None:
    subscribe(app_client, hooks.url)
    drafted_invoice(app_client)

    def sample(name: str) -> float:
        for line in app_client.get("http://testserver/metrics").text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0.0

    assert sample("billrun_webhook_deliveries_pending") == 1
    before = sample('billrun_webhook_deliveries_total{outcome="delivered"}')
    webhook_delivery.deliver_due(budget_seconds=30)
    assert sample('billrun_webhook_deliveries_total{outcome="delivered"}') == before + 1
    assert sample("billrun_webhook_deliveries_pending") == 0


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "billrun.cli", "webhooks", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_the_cli_shows_what_waits_and_retries_failed_deliveries(
    app_client: TestClient, account: Any, hooks: Receiver, worker_factory: Callable[..., WorkerProcess]
) -> None:
    endpoint = subscribe(app_client, hooks.url)
    hooks.statuses = [404]  # final: the receiver was not deployed yet
    drafted_invoice(app_client)
    pending = json.loads(_cli("pending").stdout)
    (mine,) = [e for e in pending["endpoints"] if e["endpointId"] == endpoint["id"]]
    assert mine["pending"] == 1 and mine["accountId"] == account["id"]
    webhook_delivery.deliver_due(budget_seconds=30)
    assert [d["status"] for d in deliveries(app_client)] == ["FAILED"]
    refused = _cli("retry")
    assert refused.returncode == 1 and "nothing to retry" in refused.stderr
    worker_factory("cli")
    retried = _cli("retry", "--endpoint", endpoint["id"])
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout) == {"retried": 1}
    wait_for(lambda: [d["status"] for d in deliveries(app_client)] == ["DELIVERED"], timeout=30)
    first, second = hooks.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


def test_a_database_behind_the_schema_is_named_with_its_fix(scratch_database: str) -> None:
    result = _cli("pending", env={"BILLRUN_DATABASE_URL": scratch_database})
    assert result.returncode == 1
    assert "behind this billrun's schema (run 'billrun db upgrade')" in result.stderr, result.stderr


def test_recalculated_deleted_and_failed_runs_are_reported_as_get_serves_them(
    app_client: TestClient, account: Any, hooks: Receiver
) -> None:
    from billrun.store.models import Price

    endpoint = subscribe(app_client, hooks.url, ["invoice.recalculated", "invoice.deleted", "billing_run.failed"])
    invoice = drafted_invoice(app_client)
    recalculated = app_client.post(f"/invoices/{invoice['id']}/recalculate")
    assert recalculated.status_code == 200, recalculated.text
    deleted = app_client.delete(f"/invoices/{invoice['id']}")
    assert deleted.status_code == 200, deleted.text

    schedule = seed_fixed_schedule(app_client, end="2024-01-31")
    with unit_of_work() as s:  # an amount stored before the input limits: the run fails permanently
        s.execute(
            update(Price)
            .where(Price.id == uuid.UUID(schedule["phases"][0]["priceIds"][0]))
            .values(structure={"pricingType": "FIXED", "price": "1E+999999999"})
        )
    (run_id,) = materialize(schedule["id"], FEB)
    execute_chunk([run_id])
    webhook_delivery.deliver_due(budget_seconds=30)
    payloads = {p["type"]: p["data"] for p in hooks.unique(endpoint["secret"]).values()}
    assert sorted(payloads) == ["billing_run.failed", "invoice.deleted", "invoice.recalculated"]
    assert payloads["invoice.recalculated"] == recalculated.json()
    assert payloads["invoice.deleted"]["id"] == invoice["id"]
    assert payloads["invoice.deleted"]["status"] == "DRAFT"
    failed_run = app_client.get(f"/billing-runs/{run_id}").json()
    assert failed_run["status"] == "FAILED" and payloads["billing_run.failed"] == failed_run
