"""``python -m bench billing --schedules N --events M [--workers 1|2] [--quick]``.

Generates one account with N customers and schedules (a FIXED in-advance price, a SEAT_BASED price with seat
events and a GRADUATED usage price each) and M usage events in January 2024 (2% overrides, a few VOIDs),
loaded through billrun's bulk paths (events through the same COPY path as the batch API). Then it times:

- the **floor**: one SQL statement aggregating January's winning events per customer, plus a COPY of as many
  invoices and lines as billrun wrote, into bare tables on the same server;
- the **billing run**: from the beat tick (at 2024-02-01T00:05Z) to every run COMPLETED, through real
  ``billrun worker`` processes and Redis.

It prints one JSON object last and writes it under ``bench/results/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from billrun.billing import triggers
from billrun.ids import uuid7
from billrun.store.db import get_engine, unit_of_work
from billrun.store.events import NewSeatEvent, NewUsageEvent, insert_seat_events, insert_usage_events
from billrun.store.models import (
    Account,
    BillingRun,
    BillingSchedule,
    Customer,
    InvoiceLineItem,
    Price,
    Product,
    SchedulePhase,
    ScheduleTaxRate,
    SeatMetric,
    TaxRate,
    TaxRateVersion,
    UsageMetric,
)

UTC = dt.UTC
JAN = dt.datetime(2024, 1, 1, tzinfo=UTC)
RUN_DAY = dt.date(2024, 2, 1)


def _bulk(session: Any, model: Any, rows: list[dict[str, Any]], size: int = 5000) -> None:
    for start in range(0, len(rows), size):
        session.execute(insert(model), rows[start : start + size])


def generate(schedules: int, events: int, seed: int = 11) -> uuid.UUID:
    rng = random.Random(seed)
    now = dt.datetime.now(UTC)
    with unit_of_work() as s:
        account = Account(name=f"bench-billing-{uuid.uuid4().hex[:6]}")
        s.add(account)
        s.flush()
        aid = account.id
        product = Product(account_id=aid, name="Suite", created_at=now, updated_at=now)
        seat_metric = SeatMetric(account_id=aid, seat_type="member", label="Member", created_at=now, updated_at=now)
        metric = UsageMetric(
            account_id=aid,
            name="API calls",
            metric_type="SIMPLE",
            event_type="api_call",
            aggregation_type="COUNT",
            created_at=now,
            updated_at=now,
        )
        tax = TaxRate(account_id=aid, created_at=now, updated_at=now)
        s.add_all([product, seat_metric, metric, tax])
        s.flush()
        s.add(
            TaxRateVersion(
                account_id=aid,
                tax_rate_id=tax.id,
                version=0,
                name="VAT",
                invoice_name="VAT",
                invoice_short_name="VAT",
                amount=Decimal("0.2"),
                country="GB",
            )
        )
        prices = [
            Price(
                account_id=aid,
                product_id=product.id,
                name="Platform",
                currency="GBP",
                structure={"pricingType": "FIXED", "price": "49"},
                billing_frequency="MONTHLY",
                billing_type="IN_ADVANCE",
                created_at=now,
                updated_at=now,
            ),
            Price(
                account_id=aid,
                product_id=product.id,
                name="Members",
                currency="GBP",
                structure={
                    "pricingType": "SEAT_BASED",
                    "seatMetricId": str(seat_metric.id),
                    "pricePerSeat": "10",
                    "prorationStrategy": "PRORATE_INCREMENTS",
                    "contractedMinimumSeats": 1,
                    "tiers": [],
                },
                billing_frequency="MONTHLY",
                billing_type="IN_ARREARS",
                created_at=now,
                updated_at=now,
            ),
            Price(
                account_id=aid,
                product_id=product.id,
                name="API calls",
                currency="GBP",
                structure={
                    "pricingType": "GRADUATED",
                    "usageMetricId": str(metric.id),
                    "usageCalculationMode": "BILLING_PERIOD",
                    "tiers": [
                        {"upperBound": "50", "price": "0.02", "fee": None, "isPricePercentage": False},
                        {"upperBound": None, "price": "0.01", "fee": None, "isPricePercentage": False},
                    ],
                },
                billing_frequency="MONTHLY",
                billing_type="IN_ARREARS",
                created_at=now,
                updated_at=now,
            ),
        ]
        s.add_all(prices)
        s.flush()
        customer_ids = [uuid7() for _ in range(schedules)]
        _bulk(
            s,
            Customer,
            [
                {
                    "id": cid,
                    "account_id": aid,
                    "legal_name": f"Customer {i}",
                    "address": {"line1": "1 Road", "town": "London", "postcode": "AB1", "country": "GB"},
                    "contacts": [],
                    "tax_status": "TAXED",
                    "integration_ids": [],
                    "created_at": now,
                    "updated_at": now,
                }
                for i, cid in enumerate(customer_ids)
            ],
        )
        schedule_ids = [uuid7() for _ in range(schedules)]
        _bulk(
            s,
            BillingSchedule,
            [
                {
                    "id": sid,
                    "account_id": aid,
                    "customer_id": cid,
                    "status": "ACTIVE",
                    "start_date": JAN.date(),
                    "recurrence_day_of_month": 1,
                    "currency": "GBP",
                    "next_drafting_date": RUN_DAY,
                    "integration_ids": [],
                    "created_at": now,
                    "updated_at": now,
                }
                for sid, cid in zip(schedule_ids, customer_ids, strict=True)
            ],
        )
        price_ids = [str(p.id) for p in prices]
        _bulk(
            s,
            SchedulePhase,
            [
                {
                    "id": uuid7(),
                    "account_id": aid,
                    "billing_schedule_id": sid,
                    "position": 0,
                    "start_date": JAN.date(),
                    "price_ids": price_ids,
                    "recurrence_preference": "CONTINUE_FROM_PREVIOUS_PHASE",
                    "created_at": now,
                }
                for sid in schedule_ids
            ],
        )
        _bulk(
            s,
            ScheduleTaxRate,
            [
                {"billing_schedule_id": sid, "price_id": p.id, "account_id": aid, "tax_rate_id": tax.id}
                for sid in schedule_ids
                for p in prices
            ],
        )
        # January's in-advance run is already done: only February's run (Jan arrears + Feb advance) is timed.
        _bulk(
            s,
            BillingRun,
            [
                {
                    "id": uuid7(),
                    "account_id": aid,
                    "billing_schedule_id": sid,
                    "intended_drafting_date": JAN.date(),
                    "status": "COMPLETED",
                    "trigger": "SCHEDULE",
                    "scheduled_run_time": JAN,
                    "attempts": 1,
                    "warnings": [],
                    "created_at": now,
                    "updated_at": now,
                }
                for sid in schedule_ids
            ],
        )
    seat_events = []
    for cid in customer_ids:
        seat_events.append(
            NewSeatEvent(f"s-{cid}-0", str(cid), "member", JAN - dt.timedelta(days=5), rng.randint(1, 5))
        )
        if rng.random() < 0.3:
            seat_events.append(
                NewSeatEvent(
                    f"s-{cid}-1", str(cid), "member", JAN + dt.timedelta(days=rng.randint(1, 30)), rng.randint(1, 9)
                )
            )
    for start in range(0, len(seat_events), 5000):
        with unit_of_work() as s:
            insert_seat_events(s, aid, seat_events[start : start + 5000], now)
    batch: list[NewUsageEvent] = []
    for i in range(events):
        event_id = f"e-{rng.randrange(i)}" if i > 100 and rng.random() < 0.02 else f"e-{i}"
        alias = "VOID" if rng.random() < 0.001 else str(customer_ids[rng.randrange(schedules)])
        stamp = JAN + dt.timedelta(seconds=rng.randrange(31 * 86400))
        batch.append(NewUsageEvent(event_id, alias, "api_call", stamp, {}, properties_json="{}"))
        if len(batch) == 5000:
            with unit_of_work() as s:
                insert_usage_events(s, aid, batch, now)
            batch = []
    if batch:
        with unit_of_work() as s:
            insert_usage_events(s, aid, batch, now)
    # as the README's Operations section advises before the month's run: January's events all-visible, so that
    # COUNT metrics are aggregated from the lookup index alone (the floor's scan reads the same vacuumed table)
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) usage_events, seat_events"))
        conn.execute(text("ANALYZE"))
    return aid


def floor_seconds(account_id: uuid.UUID, invoices: int, lines: int) -> float:
    engine = get_engine()
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "SELECT customer_alias, count(*) FROM usage_events WHERE account_id = :a AND is_latest "
                "AND event_type = 'api_call' AND event_timestamp >= :s AND event_timestamp < :e GROUP BY customer_alias"
            ),
            {"a": account_id, "s": JAN, "e": dt.datetime(2024, 2, 1, tzinfo=UTC)},
        ).all()
    aggregate = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_floor_invoices, bench_floor_lines"))
        conn.execute(text("CREATE TABLE bench_floor_invoices (LIKE invoices)"))
        conn.execute(text("CREATE TABLE bench_floor_lines (LIKE invoice_line_items)"))
        invoice_rows = conn.execute(
            text("SELECT * FROM invoices WHERE account_id = :a LIMIT :n"), {"a": account_id, "n": invoices}
        ).all()
        line_rows = conn.execute(
            text("SELECT * FROM invoice_line_items WHERE account_id = :a LIMIT :n"), {"a": account_id, "n": lines}
        ).all()
    raw = engine.raw_connection()
    started = time.perf_counter()
    try:
        with raw.cursor() as cursor:  # type: ignore[attr-defined]
            for table, rows in (("bench_floor_invoices", invoice_rows), ("bench_floor_lines", line_rows)):
                with cursor.copy(f"COPY {table} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(tuple(json.dumps(v) if isinstance(v, dict | list) else v for v in row))
        raw.commit()
    finally:
        raw.close()
    copy_seconds = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_floor_invoices, bench_floor_lines"))
    return aggregate + copy_seconds


def _peak_rss_mb(pids: list[int]) -> float:
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return round(peak / 1024, 1)


def _group_pids(leader: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "-g", str(os.getpgid(leader))], capture_output=True, text=True, check=False
    ).stdout
    return [int(p) for p in out.split()]


def _worker(log_path: Path, extra: tuple[str, ...]) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - the process writes it until it is stopped
    command = [sys.executable, "-m", "billrun.cli", "worker", "--pool", "prefork", "--concurrency", "1"]
    return subprocess.Popen(
        [*command, "--loglevel", "WARNING", *extra],
        stdout=log,
        stderr=log,
        env=dict(os.environ),
        start_new_session=True,
    )


def run_seconds(
    account_id: uuid.UUID, workers: int, log_dir: Path, receiver: Any = None, deliver_during: bool = False
) -> tuple[float, float, float]:
    """Seconds from the tick to every run COMPLETED, the workers' peak RSS, and (with a webhook receiver)
    seconds to every delivery DELIVERED: from the tick if ``deliver_during``, else from the delivery worker's
    start once the run is over."""
    # with a receiver, deliveries go to a worker process of their own (billrun worker --queues webhooks), as
    # the README advises; the billing workers consume the billing queue only. On this benchmark's machine that
    # worker and the receiver share the billing worker's cores: by default the delivery worker starts after
    # the run, so that the run's time shows what the outbox costs billing, and the drain is timed on its own.
    queues = ("--queues", "celery") if receiver is not None else ()
    procs = [_worker(log_dir / f"bench-worker-{n}.log", queues) for n in range(workers)]

    def deliverer() -> subprocess.Popen[bytes]:
        return _worker(log_dir / "bench-worker-webhooks.log", ("--queues", "webhooks"))

    delivering = [deliverer()] if receiver is not None and deliver_during else []
    time.sleep(4)
    with unit_of_work() as s:
        expected = s.execute(
            select(func.count()).select_from(BillingSchedule).where(BillingSchedule.account_id == account_id)
        ).scalar_one()
    from billrun.worker.app import make_celery

    make_celery().control.purge()  # a clean queue: only this run's tasks are timed (make_celery installs
    # the Celery dispatcher, so the tick below enqueues exactly as the beat does)
    started_at = dt.datetime.now(UTC)
    started = time.perf_counter()
    triggers.tick(now=dt.datetime(2024, 2, 1, 0, 5, tzinfo=UTC))  # returns once every run is planned
    # the watcher must not load the server it times: it asks through the index of outstanding runs only, ever
    # less often (at most every 2 s), and the run's end is read afterwards from the last run's completion
    while _outstanding(account_id):
        time.sleep(min(2.0, 0.2 + 0.01 * (time.perf_counter() - started)))
    with unit_of_work() as s:
        done, last = s.execute(
            select(func.count(), func.max(BillingRun.updated_at)).where(
                BillingRun.account_id == account_id,
                BillingRun.intended_drafting_date == RUN_DAY,
                BillingRun.status == "COMPLETED",
            )
        ).one()
    if done != expected:
        raise RuntimeError(f"{done} of {expected} runs COMPLETED")
    elapsed = (last - started_at).total_seconds()
    # VmHWM is each process's high-water mark: read once, it is the peak of the whole run
    peak = sum(_peak_rss_mb(_group_pids(p.pid)) for p in procs)
    delivered = 0.0
    if receiver is not None:
        if not delivering:
            delivering.append(deliverer())
            started = time.perf_counter()
        delivered = _delivered_seconds(account_id, started)
    for proc in [*procs, *delivering]:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    return elapsed, peak, delivered


def _outstanding(account_id: uuid.UUID) -> bool:
    """Whether a run of the day is not COMPLETED yet, read through ``ix_billing_runs_claimable`` (whose
    predicate this repeats): as runs complete, the index it scans shrinks."""
    with unit_of_work() as s:
        return bool(
            s.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM billing_runs WHERE status IN ('SCHEDULED', 'FAILED', "
                    "'IN_PROGRESS') AND account_id = :a AND intended_drafting_date = :d)"
                ),
                {"a": account_id, "d": RUN_DAY},
            ).scalar_one()
        )


def sample_mismatches(account_id: uuid.UUID, size: int = 1000, seed: int = 5) -> tuple[int, int]:
    """Recompute a random sample of the run's invoices through the per-schedule path (one schedule at a time,
    every input read by its own query, no chunk prefetch) and compare totals and lines with what the chunked
    workers stored. Returns (checked, mismatches)."""
    from billrun.billing.loading import load_context
    from billrun.billing.rating import compute_for
    from billrun.domain.money import plain_decimal
    from billrun.store.models import Invoice

    with unit_of_work() as s:
        invoice_ids = list(
            s.execute(
                select(Invoice.id).where(Invoice.account_id == account_id, Invoice.drafting_date == RUN_DAY)
            ).scalars()
        )
    chosen = random.Random(seed).sample(invoice_ids, min(size, len(invoice_ids)))
    mismatches = 0
    for invoice_id in chosen:
        with unit_of_work() as s:
            invoice = s.get(Invoice, invoice_id)
            assert invoice is not None and invoice.billing_schedule_id is not None
            schedule = s.get(BillingSchedule, invoice.billing_schedule_id)
            assert schedule is not None
            draft, _ = compute_for(s, load_context(s, schedule), RUN_DAY)
            stored_lines = sorted(
                (line.index, line.net_total, line.total_tax, line.quantity)
                for line in s.execute(select(InvoiceLineItem).where(InvoiceLineItem.invoice_id == invoice_id)).scalars()
            )
            fresh_lines = sorted(
                (
                    line.index,
                    line.net_total,
                    line.total_tax,
                    plain_decimal(line.quantity),
                )
                for line in draft.lines
            )
            same = (invoice.net_total, invoice.total_tax) == (
                draft.net_total,
                draft.total_tax,
            ) and stored_lines == fresh_lines
            if not same:
                mismatches += 1
                print(f"mismatch: invoice {invoice_id}", file=sys.stderr)
    return len(chosen), mismatches


def prepare_database() -> None:
    """Migrate, and retire every schedule and pending run already there, and every webhook endpoint (with its
    deliveries) and outbox row: only the benchmark's are due."""
    from billrun.store import migrate

    migrate.upgrade("head")
    with unit_of_work() as s:
        s.execute(text("DELETE FROM webhook_endpoints"))
        s.execute(text("DELETE FROM webhook_outbox"))
        s.execute(text("UPDATE billing_schedules SET status = 'CANCELLED' WHERE status = 'ACTIVE'"))
        s.execute(
            text("UPDATE billing_runs SET status = 'DEPRECATED' WHERE status IN ('SCHEDULED', 'FAILED', 'IN_PROGRESS')")
        )


def subscribe(account_id: uuid.UUID, url: str) -> uuid.UUID:
    """One webhook endpoint for every event of the account; returns its id."""
    from billrun.billing import webhook_endpoints
    from billrun.config import get_settings

    os.environ["BILLRUN_WEBHOOKS_ALLOW_PRIVATE"] = "1"  # a loopback receiver, over http
    get_settings.cache_clear()
    with unit_of_work() as s:
        endpoint, _ = webhook_endpoints.create(s, account_id, url, [], "bench")
        return endpoint.id


def _delivered_seconds(account_id: uuid.UUID, started: float) -> float:
    """Until the outbox is fanned out and every delivery of the account is DELIVERED (the workers are still
    running)."""
    from billrun.domain.statuses import DeliveryStatus
    from billrun.store import webhooks
    from billrun.store.models import WebhookDelivery

    while True:
        with unit_of_work() as s:
            waiting = webhooks.awaiting_fan_out(s)[0] + (
                s.scalar(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(WebhookDelivery.account_id == account_id, WebhookDelivery.status != DeliveryStatus.DELIVERED)
                )
                or 0
            )
        if not waiting:
            return time.perf_counter() - started
        time.sleep(0.2)


def main(
    schedules: int,
    events: int,
    workers: int,
    results: Path,
    webhook_endpoint: bool = False,
    deliver_during: bool = False,
) -> dict[str, Any]:
    from bench.receiver import Receiver

    prepare_database()
    account_id = generate(schedules, events)
    results.mkdir(exist_ok=True)
    receiver = Receiver() if webhook_endpoint else None
    if receiver is not None:
        subscribe(account_id, receiver.url)
    elapsed, peak, delivered = run_seconds(account_id, workers, results, receiver, deliver_during)
    with unit_of_work() as s:
        invoices = s.execute(
            text("SELECT count(*) FROM invoices WHERE account_id = :a"), {"a": account_id}
        ).scalar_one()
        lines = s.execute(
            select(func.count()).select_from(InvoiceLineItem).where(InvoiceLineItem.account_id == account_id)
        ).scalar_one()
    floor = floor_seconds(account_id, invoices, lines)
    checked, mismatches = sample_mismatches(account_id)
    result = {
        "schedules": schedules,
        "events": events,
        "workers": workers,
        "floor_seconds": round(floor, 3),
        "run_seconds": round(elapsed, 3),
        "ratio": round(elapsed / floor, 2),
        "invoices_per_s": round(invoices / elapsed, 1),
        "worker_peak_rss_mb": peak,
        "sample_checked": checked,
        "sample_mismatches": mismatches,
    }
    if receiver is not None:
        result |= {
            "webhook_endpoint": True,
            "delivered_during_run": deliver_during,
            "all_delivered_seconds": round(delivered, 3),
            "received": receiver.count,
        }
        receiver.close()
    print(json.dumps(result))
    suffix = ("-webhook-during" if deliver_during else "-webhook") if webhook_endpoint else ""
    (results / f"billing-{schedules}-{events}-{workers}w{suffix}.json").write_text(json.dumps(result) + "\n")
    return result
