"""The webhook rules that need no server: the retry schedule, which answers are retried, which addresses and
URLs are refused, that a resolver that never answers costs no more than the attempt's timeout, and that
billrun's signature is the one the ``standardwebhooks`` library verifies."""

from __future__ import annotations

import datetime as dt
import random
import socket
import threading
import time
import uuid
from decimal import Decimal

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from billrun import jsonutil
from billrun.store.bulk import values_from_json, values_to_json
from billrun.store.models import Invoice
from billrun.webhooks import policy, signing, transport

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_retries_follow_the_schedule_with_at_most_20_percent_jitter_then_stop() -> None:
    expected = [5, 300, 1800, 7200, 18000, 36000, 36000]
    rng = random.Random(7)
    for attempt, seconds in enumerate(expected, start=1):
        for _ in range(50):
            at = policy.next_attempt(attempt, NOW, rng)
            assert at is not None
            assert seconds <= (at - NOW).total_seconds() <= seconds * 1.2
    assert policy.next_attempt(len(expected) + 1, NOW, rng) is None
    assert policy.MAX_ATTEMPTS == 8


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (None, True),
        (500, True),
        (503, True),
        (429, True),
        (408, True),
        (409, True),
        (400, False),
        (401, False),
        (404, False),
        (410, False),
        (301, False),
        (302, False),
    ],
)
def test_which_answers_are_retried(status: int | None, retried: bool) -> None:
    assert policy.retryable(status) is retried
    assert not policy.succeeded(status)


def test_any_2xx_succeeds() -> None:
    assert all(policy.succeeded(s) for s in (200, 201, 202, 204, 299))


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd00:ec2::254", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("100.64.0.1", "shared"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
    ],
)
def test_forbidden_addresses(address: str, reason: str | None) -> None:
    assert transport.forbidden_address(address) == reason


@pytest.mark.parametrize(
    "url",
    ["https://[", "https://example.com:99999/", "https:///path", "javascript:alert(1)", "", "https://localhost/"],
)
def test_malformed_urls_are_refused_not_raised(url: str) -> None:
    with pytest.raises(transport.Refused):
        transport.check_url(url, allow_private=False)


def test_a_resolver_that_never_answers_is_cut_at_the_attempt_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # the C resolver takes no deadline; a dead DNS server would hold a delivery thread for its own retries
    released = threading.Event()

    def dead_dns(*args: object, **kwargs: object) -> list:
        released.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", dead_dns)
    started = time.monotonic()
    try:
        answer = transport.post("https://hooks.example.com/in", b"{}", {}, timeout=0.5, allow_private=False)
    finally:
        released.set()
    assert time.monotonic() - started < 5
    assert answer.status is None
    assert answer.error == "timed out after 0.5 s"
    assert policy.retryable(answer.status)


def test_an_invoice_row_comes_back_from_the_outbox_as_it_was_written() -> None:
    # a chunk's invoice.drafted payloads are rendered when the outbox is fanned out, from the row values it
    # serialised: every column type must come back equal, or the payload would differ from GET /invoices/{id}
    row = {
        "id": uuid.uuid4(),
        "account_id": uuid.uuid4(),
        "billing_schedule_id": None,
        "drafting_date": dt.date(2024, 2, 1),
        "status": "DRAFT",
        "net_total": Decimal("100.10"),
        "total_tax": Decimal("0"),
        "gross_total": Decimal("1E+2"),
        "customer_billing_address": {"line1": "1 Road", "country": "GB", "note": None},
        "warnings": [],
        "metadata_": {"rate": Decimal("0.125")},
        "calculated_at": dt.datetime(2024, 2, 1, 0, 5, 0, 123456, tzinfo=dt.UTC),
        "created_at": dt.datetime(2024, 2, 1, 0, 5, tzinfo=dt.UTC),
    }
    back = values_from_json(Invoice, jsonutil.loads(values_to_json(row)))
    assert back == row
    assert [type(back[k]) for k in row] == [type(v) for v in row.values()]
    assert str(back["gross_total"]) == "1E+2"  # the exact decimal, not merely an equal one


def test_the_signature_is_what_standard_webhooks_verifies() -> None:
    secret = signing.new_secret()
    body = b'{"id":"e1","type":"invoice.drafted","data":{"netTotal":"10.00"}}'
    timestamp = int(dt.datetime.now(dt.UTC).timestamp())
    headers = signing.headers([secret], "e1", timestamp, body)
    assert Webhook(secret).verify(body, headers)["type"] == "invoice.drafted"
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
