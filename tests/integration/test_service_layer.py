"""The service layer on PostgreSQL alone: the unit of work and its after-commit work, and use cases called
directly (no HTTP, no worker). What billing asks to enqueue is recorded by a dispatcher standing in for the
Celery one: the test is about when billing asks, which is billing's decision, not the broker's. The last test
counts the statements a list endpoint runs (in-process API), to keep it from growing with the page."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from tests.integration.conftest import seed_fixed_schedule


class Recording:
    """A :class:`billrun.billing.dispatch.Dispatcher` that writes down what it is asked to enqueue."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def execute_runs(self, run_ids: Sequence[uuid.UUID], manual: bool = False) -> None:
        self.sent.append(("execute", list(run_ids)))

    def advance_traveller(self, traveller_id: uuid.UUID) -> None:
        self.sent.append(("advance", traveller_id))

    def recalculate_pending(self, delay_seconds: float = 0) -> None:
        self.sent.append(("drain", None))

    def deliver_webhooks(self, delay_seconds: float = 0) -> None:
        self.sent.append(("deliver", None))

    def queue_was_lost(self) -> bool:
        return False


@pytest.fixture
def recorded(database_url: str) -> Iterator[Recording]:
    from billrun.billing import dispatch

    previous = dispatch.dispatcher()
    recording = Recording()
    dispatch.set_dispatcher(recording)
    try:
        yield recording
    finally:
        dispatch.set_dispatcher(previous)


def _schedule(status: str = "DRAFT") -> tuple[uuid.UUID, uuid.UUID]:
    """An account with one customer and one schedule in ``status``: (account id, schedule id)."""
    from billrun.store.accounts import create_account
    from billrun.store.db import unit_of_work
    from billrun.store.models import BillingSchedule, Customer

    with unit_of_work() as s:
        account = create_account(s, f"sl-{uuid.uuid4().hex[:8]}")
        customer = Customer(account_id=account.id, legal_name="Layer Ltd", address={"country": "GB"})
        s.add(customer)
        s.flush()
        schedule = BillingSchedule(
            account_id=account.id,
            customer_id=customer.id,
            status=status,
            start_date=dt.date(2024, 1, 1),
            recurrence_day_of_month=1,
            currency="GBP",
        )
        s.add(schedule)
        s.flush()
        return account.id, schedule.id


def test_after_commit_work_runs_once_committed_once_per_key(database_url: str) -> None:
    from billrun.store.db import after_commit, unit_of_work

    done: list[str] = []
    with unit_of_work() as s:
        after_commit(s, lambda: done.append("drain"), "drain")
        after_commit(s, lambda: done.append("drain again"), "drain")  # the same key: asked for once
        after_commit(s, lambda: done.append("count"))
        after_commit(s, lambda: done.append("count"))  # no key: each runs
        assert done == []  # nothing before the commit
    assert done == ["drain", "count", "count"]


def test_after_commit_work_is_dropped_when_the_transaction_fails(database_url: str) -> None:
    from billrun.store.db import after_commit, unit_of_work
    from billrun.store.models import TimeTraveller

    done: list[str] = []
    with pytest.raises(RuntimeError), unit_of_work() as s:
        after_commit(s, lambda: done.append("rolled back"))
        raise RuntimeError("the use case failed")
    with pytest.raises(IntegrityError), unit_of_work() as s:
        after_commit(s, lambda: done.append("commit failed"))
        # an account that does not exist: the foreign key fails at the commit's flush
        s.add(TimeTraveller(account_id=uuid.uuid4(), frozen_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)))
    assert done == []
    with unit_of_work() as s:  # a new transaction starts clean
        after_commit(s, lambda: done.append("clean"))
    assert done == ["clean"]


def test_moving_a_traveller_wakes_it_once_after_commit_and_never_backwards(
    database_url: str, recorded: Recording
) -> None:
    from billrun.billing import travellers
    from billrun.billing.errors import Invalid, Refused
    from billrun.store.db import unit_of_work
    from billrun.store.models import BillingSchedule, TimeTraveller

    account_id, schedule_id = _schedule()
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with unit_of_work() as s:
        schedule = s.get(BillingSchedule, schedule_id, with_for_update=True)
        traveller = travellers.create(s, account_id, start, schedule)
        traveller_id = traveller.id
    assert traveller.status == "READY" and recorded.sent == []  # a DRAFT schedule has nothing due
    with unit_of_work() as s:
        traveller = s.get(TimeTraveller, traveller_id, with_for_update=True)
        assert traveller is not None
        travellers.move(s, traveller, start + dt.timedelta(days=40))
        travellers.move(s, traveller, start + dt.timedelta(days=70))
        assert recorded.sent == []  # not before the commit
    assert recorded.sent == [("advance", traveller_id)]  # moved twice in one transaction: woken once
    with pytest.raises(Invalid) as backwards, unit_of_work() as s:
        traveller = s.get(TimeTraveller, traveller_id, with_for_update=True)
        assert traveller is not None
        travellers.move(s, traveller, start)
    assert (backwards.value.code, backwards.value.key) == ("outOfRange", "frozenTime")
    with pytest.raises(Refused) as taken, unit_of_work() as s:
        travellers.create(s, account_id, start, s.get(BillingSchedule, schedule_id, with_for_update=True))
    assert taken.value.key == "billingScheduleId"
    with unit_of_work() as s:
        moved = s.get(TimeTraveller, traveller_id)
        assert moved is not None and moved.frozen_time == start + dt.timedelta(days=70)
        assert moved.status == "IN_PROGRESS"
    assert recorded.sent == [("advance", traveller_id)]  # the refused work enqueued nothing


def test_after_commit_work_that_fails_is_logged_not_raised_and_the_rest_still_runs(database_url: str) -> None:
    from billrun.store.db import after_commit, unit_of_work
    from billrun.store.models import TimeTraveller

    def broker_down() -> None:
        raise ConnectionRefusedError("Error 111 connecting to 127.0.0.1:6379")

    done: list[str] = []
    with unit_of_work() as s:
        traveller = TimeTraveller(account_id=_schedule()[0], frozen_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        s.add(traveller)
        after_commit(s, broker_down, "enqueue")
        after_commit(s, lambda: done.append("count"))
    assert done == ["count"]
    with unit_of_work() as s:
        assert s.get(TimeTraveller, traveller.id) is not None  # committed, and the caller was not told otherwise


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_write_made_while_the_broker_is_out_of_reach_succeeds_and_the_tick_wakes_its_traveller(
    app_client: TestClient, account: dict[str, str], recorded: Recording
) -> None:
    from celery import Celery
    from sqlalchemy import text

    from billrun.billing import dispatch, triggers
    from billrun.store.db import unit_of_work
    from billrun.worker.dispatch import CeleryDispatcher

    traveller = app_client.post("/time-travellers", json={"frozenTime": "2024-01-01T00:00:00Z"}).json()
    seed_fixed_schedule(app_client, traveller_id=traveller["id"])
    dispatch.set_dispatcher(CeleryDispatcher(Celery(broker=f"redis://127.0.0.1:{_free_port()}/0")))
    moved = app_client.put(f"/time-travellers/{traveller['id']}", json={"frozenTime": "2024-03-05T00:00:00Z"})
    assert moved.status_code == 200, moved.text  # committed: a 503 would invite a second, duplicate write
    assert moved.json()["status"] == "IN_PROGRESS"

    dispatch.set_dispatcher(recorded)
    triggers.tick()
    assert ("advance", uuid.UUID(traveller["id"])) not in recorded.sent  # it may still be advancing somewhere
    with unit_of_work() as s:
        s.execute(
            text("UPDATE time_travellers SET updated_at = now() - interval '11 minutes' WHERE id = :id"),
            {"id": traveller["id"]},
        )
    triggers.tick()
    assert ("advance", uuid.UUID(traveller["id"])) in recorded.sent  # its wake-up was lost: sent again


def test_archiving_deprecates_the_runs_not_billed_and_blocks_activation(database_url: str) -> None:
    from billrun.billing import schedules
    from billrun.billing.errors import Refused
    from billrun.store.db import unit_of_work
    from billrun.store.models import BillingRun, BillingSchedule

    account_id, schedule_id = _schedule("ACTIVE")
    statuses = {"SCHEDULED": dt.date(2024, 2, 1), "FAILED": dt.date(2024, 3, 1), "COMPLETED": dt.date(2024, 4, 1)}
    with unit_of_work() as s:
        for status, day in statuses.items():
            moment = dt.datetime.combine(day, dt.time(), dt.UTC)
            s.add(
                BillingRun(
                    account_id=account_id,
                    billing_schedule_id=schedule_id,
                    intended_drafting_date=day,
                    scheduled_run_time=moment,
                    status=status,
                )
            )
    with unit_of_work() as s:
        schedule = s.get(BillingSchedule, schedule_id, with_for_update=True)
        assert schedule is not None
        schedules.archive(s, schedule)
    with unit_of_work() as s:
        schedule = s.get(BillingSchedule, schedule_id)
        assert schedule is not None and schedule.status == "CANCELLED" and schedule.archived_at is not None
        runs = s.query(BillingRun).filter(BillingRun.billing_schedule_id == schedule_id).all()
        assert {r.intended_drafting_date: r.status for r in runs} == {
            statuses["SCHEDULED"]: "DEPRECATED",
            statuses["FAILED"]: "DEPRECATED",
            statuses["COMPLETED"]: "COMPLETED",
        }
        with pytest.raises(Refused) as refused:
            schedules.activate(s, schedule)
        assert refused.value.code == "invalidStatusTransition"
        with pytest.raises(Refused):
            schedules.ensure_amendable(schedule)


def test_listing_schedules_runs_the_same_statements_for_one_or_many(
    app_client: TestClient, account: dict[str, str]
) -> None:
    from billrun.store.db import get_engine

    statements: list[str] = []

    def count(*_: Any) -> None:
        statements.append("statement")

    def listed() -> int:
        statements.clear()
        event.listen(get_engine(), "before_cursor_execute", count)
        try:
            response = app_client.get("/billing-schedules", params={"limit": 10})
        finally:
            event.remove(get_engine(), "before_cursor_execute", count)
        assert response.status_code == 200, response.text
        return len(response.json()["items"])

    seed_fixed_schedule(app_client)
    assert listed() == 1
    one = len(statements)
    for _ in range(4):
        seed_fixed_schedule(app_client)
    assert listed() == 5
    assert len(statements) == one, "the page's related rows must be read with one query per table"


def test_invoice_lifecycle_refuses_by_status_and_numbers_without_gaps(database_url: str) -> None:
    from billrun.billing import lifecycle
    from billrun.billing.errors import TransitionRefused
    from billrun.domain.statuses import PaymentStatus
    from billrun.store.db import unit_of_work
    from billrun.store.models import Account, Customer, Invoice

    account_id, _ = _schedule()
    with unit_of_work() as s:
        customer = s.query(Customer).filter(Customer.account_id == account_id).one()
        now = dt.datetime.now(dt.UTC)
        invoice = Invoice(
            account_id=account_id,
            customer_id=customer.id,
            currency="GBP",
            status="DRAFT",
            created_at=now,
            updated_at=now,
        )
        s.add(invoice)
        s.flush()
        lifecycle.edit_document(invoice, {"memo": "thanks"})
        with pytest.raises(TransitionRefused) as unpaid:
            lifecycle.set_payment_status(invoice, PaymentStatus.PAID)  # a DRAFT is not issued
        assert (unpaid.value.code, unpaid.value.key) == ("invalidStatusTransition", "status")
        lifecycle.apply_action(s, invoice, "finalize")
        account = s.get(Account, account_id)
        assert account is not None
        assert invoice.status == "FINAL" and invoice.invoice_number == f"{account.invoice_number_prefix}000001"
        with pytest.raises(TransitionRefused):
            lifecycle.edit_document(invoice, {"memo": "too late"})
        lifecycle.set_payment_status(invoice, PaymentStatus.PAID)
        with pytest.raises(TransitionRefused):
            lifecycle.apply_action(s, invoice, "void")  # a paid invoice is not voided
        assert (invoice.memo, invoice.payment_status) == ("thanks", "PAID")


def test_alias_and_tax_status_changes_queue_a_recalculation_only_when_they_change_something(
    database_url: str, recorded: Recording
) -> None:
    from billrun.billing import customers
    from billrun.billing.errors import Refused
    from billrun.store.db import unit_of_work
    from billrun.store.models import Customer, Invoice, RecalculationRequest

    account_id, schedule_id = _schedule("ACTIVE")

    def customer_of(s: Any) -> Customer:
        return s.query(Customer).filter(Customer.account_id == account_id).one()

    def queued(s: Any) -> list[uuid.UUID]:
        return [r.invoice_id for r in s.query(RecalculationRequest).filter_by(account_id=account_id)]

    with unit_of_work() as s:
        draft = Invoice(
            account_id=account_id,
            customer_id=customer_of(s).id,
            billing_schedule_id=schedule_id,
            drafting_date=dt.date(2024, 2, 1),
            currency="GBP",
            status="DRAFT",
            created_at=dt.datetime.now(dt.UTC),
            updated_at=dt.datetime.now(dt.UTC),
        )
        s.add(draft)
        s.flush()
        draft_id = draft.id
    with unit_of_work() as s:
        customer = customer_of(s)
        customers.set_tax_status(s, customer, customer.tax_status)  # unchanged: nothing to recalculate
        assert queued(s) == []
    assert recorded.sent == []
    with unit_of_work() as s:
        customers.set_tax_status(s, customer_of(s), "TAX_EXEMPT")
        assert queued(s) == [draft_id] and recorded.sent == []
    assert recorded.sent == [("drain", None)]  # once committed
    with pytest.raises(Refused) as reused, unit_of_work() as s:
        customer = customer_of(s)
        customers.add_alias(s, customer, "acme-eu", None)
        customers.add_alias(s, customer, "acme-eu", None)
    assert reused.value.key == "value"
    assert recorded.sent == [("drain", None)]  # the refused transaction enqueued nothing
    with unit_of_work() as s:
        assert customer_of(s).tax_status == "TAX_EXEMPT"


def test_a_tax_rate_in_use_publishes_versions_that_recalculate_and_is_never_deleted(
    database_url: str, recorded: Recording
) -> None:
    from billrun.billing import tax_rates
    from billrun.billing.errors import Refused
    from billrun.store.db import unit_of_work
    from billrun.store.models import (
        Customer,
        Invoice,
        Price,
        Product,
        RecalculationRequest,
        ScheduleTaxRate,
        TaxRate,
        TaxRateVersion,
    )

    account_id, schedule_id = _schedule("ACTIVE")
    now = dt.datetime.now(dt.UTC)
    with unit_of_work() as s:
        customer = s.query(Customer).filter(Customer.account_id == account_id).one()
        product = Product(account_id=account_id, name="Seats", created_at=now, updated_at=now)
        rate = TaxRate(account_id=account_id, created_at=now, updated_at=now)
        s.add_all([product, rate])
        s.flush()
        first = TaxRateVersion(
            account_id=account_id,
            tax_rate_id=rate.id,
            version=1,
            name="VAT",
            invoice_name="VAT",
            invoice_short_name="VAT",
            amount=Decimal("0.2"),
            country="GB",
        )
        price = Price(
            account_id=account_id,
            product_id=product.id,
            name="Seats",
            currency="GBP",
            structure={"pricingType": "FIXED", "price": "10"},
            billing_frequency="MONTHLY",
            billing_type="IN_ARREARS",
            created_at=now,
            updated_at=now,
        )
        s.add_all([first, price])
        s.flush()
        s.add(
            ScheduleTaxRate(
                billing_schedule_id=schedule_id, price_id=price.id, account_id=account_id, tax_rate_id=rate.id
            )
        )
        draft = Invoice(
            account_id=account_id,
            customer_id=customer.id,
            billing_schedule_id=schedule_id,
            drafting_date=dt.date(2024, 2, 1),
            currency="GBP",
            status="DRAFT",
            created_at=now,
            updated_at=now,
        )
        s.add(draft)
        s.flush()
        rate_id, draft_id = rate.id, draft.id
    fields = {
        "name": "VAT",
        "invoice_name": "VAT",
        "invoice_short_name": "VAT",
        "amount": Decimal("0.25"),
        "country": "GB",
    }
    with unit_of_work() as s:
        rate = s.get(TaxRate, rate_id, with_for_update=True)
        latest = s.query(TaxRateVersion).filter_by(tax_rate_id=rate_id).one()
        assert rate is not None
        assert tax_rates.publish_version(s, rate, latest, fields).version == 2
    with unit_of_work() as s:
        assert [r.invoice_id for r in s.query(RecalculationRequest).filter_by(account_id=account_id)] == [draft_id]
    assert recorded.sent == [("drain", None)]
    with pytest.raises(Refused) as in_use, unit_of_work() as s:
        rate = s.get(TaxRate, rate_id, with_for_update=True)
        assert rate is not None
        tax_rates.delete(s, rate)
    assert in_use.value.code == "inUse"
    with unit_of_work() as s:
        assert s.get(TaxRate, rate_id) is not None


def test_a_billing_transaction_holds_its_schedule_rows_from_the_start(
    app_client: TestClient, account: dict[str, str]
) -> None:
    """Regression (a CI run of e29): the run's transaction took only KEY SHARE on its schedule row (inserting the
    invoice) and upgraded it at the end (lastInvoiceId); a traveller's step queued FOR UPDATE in between, and
    the upgrade deadlocked with it, failing the run. Now the row is locked NO KEY UPDATE before any work: a
    writer that wants the row waits for the run instead of cutting in."""
    from psycopg.errors import LockNotAvailable
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from billrun.billing import faults, triggers
    from billrun.billing.execution import execute_run
    from billrun.store.db import get_engine

    schedule = seed_fixed_schedule(app_client)
    _, run_ids = triggers.execute_schedule(uuid.UUID(schedule["id"]), dt.date(2024, 2, 1), queue=False)
    seen: list[str] = []

    def probe(stage: str, _: uuid.UUID) -> None:
        if stage != "computed":
            return
        with get_engine().connect() as other:
            try:
                other.execute(
                    text("SELECT 1 FROM billing_schedules WHERE id = :id FOR UPDATE NOWAIT"), {"id": schedule["id"]}
                )
                seen.append("free")
            except OperationalError as exc:
                seen.append("locked" if isinstance(exc.orig, LockNotAvailable) else repr(exc))
            other.rollback()

    faults.install(probe)
    try:
        outcome = execute_run(run_ids[-1])
    finally:
        faults.install(None)
    assert outcome.status == "COMPLETED" and outcome.invoice_id is not None
    assert seen == ["locked"]
