"""``python -m bench backtest --schedules N --months M``: a pricing backtest over N schedules and M monthly
drafting dates through a real ``billrun worker --queues backtests`` process.

Generates the billing benchmark's account (``bench.billing.generate``: N schedules, a FIXED, a SEAT_BASED and a
GRADUATED price each, 10 usage events per schedule in January 2024), replaces the FIXED price by one 10%
dearer, enqueues the backtest of drafting dates 2024-02-01 .. 2024-02-01 + M - 1 months as ``POST /backtests``
does, and times it to COMPLETED, sampling the worker's peak RSS (flat in N means the chunks free what they
read). No invoice is billed first, so every date is re-rated from live data (the path without snapshots).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.billing import _group_pids, _peak_rss_mb, _worker, generate, prepare_database
from billrun.store.db import unit_of_work
from billrun.store.models import Backtest, BacktestRow, Price


def main(schedules: int, months: int, results: Path) -> dict[str, Any]:
    from billrun.billing import backtests
    from billrun.domain.statuses import BacktestStatus

    prepare_database()
    started = time.perf_counter()
    account_id = generate(schedules, schedules * 10)
    made = time.perf_counter() - started
    first = dt.date(2024, 2, 1)
    last = dt.date(2024 + (1 + months - 1) // 12, (1 + months - 1) % 12 + 1, 1)
    with unit_of_work() as s:
        fixed = s.execute(select(Price).where(Price.account_id == account_id, Price.name == "Platform")).scalar_one()
        replacement = {
            "priceId": str(fixed.id),
            "with": {
                "name": fixed.name,
                "currency": fixed.currency,
                "structure": {**fixed.structure, "price": "53.90"},
                "billingFrequency": fixed.billing_frequency,
                "billingType": fixed.billing_type,
                "usageCalculationPeriod": None,
            },
        }
    results.mkdir(exist_ok=True)
    worker = _worker(results / "bench-backtest-worker.log", ("--queues", "backtests"))
    time.sleep(4)
    from billrun.worker.app import make_celery

    make_celery()  # installs the Celery dispatcher: the backtest is queued as the API queues it
    try:
        peak = 0.0
        started = time.perf_counter()
        with unit_of_work() as s:
            backtest_id: uuid.UUID = backtests.start(s, account_id, first, last, [replacement], None).id
        while True:
            with unit_of_work() as s:
                status = s.get(Backtest, backtest_id).status  # type: ignore[union-attr]
            peak = max(peak, _peak_rss_mb(_group_pids(worker.pid)))
            if status in (BacktestStatus.COMPLETED, BacktestStatus.FAILED):
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    with unit_of_work() as s:
        rows = s.execute(select(func.count()).where(BacktestRow.backtest_id == backtest_id)).scalar_one()
    result = {
        "schedules": schedules,
        "months": months,
        "status": str(status),
        "rows": rows,
        "generate_seconds": round(made, 1),
        "backtest_seconds": round(elapsed, 1),
        "dates_per_s": round(rows / elapsed, 1) if elapsed else None,
        "worker_peak_rss_mib": peak,
    }
    print(json.dumps(result))
    (results / f"backtest-{schedules}-{months}.json").write_text(json.dumps(result) + "\n")
    return result
