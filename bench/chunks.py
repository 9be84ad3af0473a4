"""``python -m bench chunks [--schedules N] [--profile]``: where a worker's time goes, stage by stage.

Generates the billing benchmark's account (N schedules, 100 events each), lets the beat's tick plan and
claim the month's runs with a dispatcher that collects the chunks instead of enqueueing them, then executes
every chunk in this process and times each stage of the chunk path. No Celery and no Redis: this is the
worker's own cost per invoice, the part of ``python -m bench billing`` that one worker process serialises.

Stages are timed by wrapping the functions the chunk path calls (looked up at call time, so the wrappers
see every call); nested stages are named ``outer.inner`` and are included in their outer stage. The stages
do not add up to the total: the rest is the loop itself, Outcome bookkeeping and transaction set-up.
``--profile`` also prints cProfile's top functions (cProfile inflates Python-heavy stages).
"""

from __future__ import annotations

import cProfile
import datetime as dt
import functools
import io
import json
import pstats
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bench.billing import generate, prepare_database, subscribe
from billrun.billing.dispatch import NoDispatcher
from billrun.worker.collector import tune_collector

# (module, attribute, stage name); an inner stage's time is also in the outer one's
STAGES = (
    ("billrun.store.runs", "claim_many", "claim"),
    ("billrun.store.runs", "lock_schedules", "lock schedules"),
    ("billrun.billing.persist", "load_contexts", "load schedules"),
    ("billrun.billing.persist", "prefetch", "prefetch inputs"),
    ("billrun.billing.rating", "items_due_on", "prefetch inputs.items due"),
    ("billrun.billing.rating", "read_inputs", "prefetch inputs.rating-only pass"),
    ("billrun.store.usage", "aggregate_many", "prefetch inputs.usage aggregation (SQL)"),
    ("billrun.store.usage", "seat_rows_many", "prefetch inputs.seat events (SQL)"),
    ("billrun.store.runs", "live_invoices", "existing invoices"),
    ("billrun.billing.persist", "compute_for", "compute"),
    ("billrun.billing.rating", "compute_invoice", "compute.domain core"),
    ("billrun.billing.persist", "invoice_values", "invoice rows"),
    ("billrun.billing.persist", "draft_rows", "line rows and snapshot"),
    ("billrun.billing.invoicing", "snapshot_body", "line rows and snapshot.snapshot body"),
    ("billrun.billing.persist", "copy_mapped", "COPY invoices"),
    ("billrun.billing.persist", "insert_rows", "COPY groups, lines, snapshots"),
    ("billrun.store.runs", "complete_many", "complete runs"),
    ("billrun.store.runs", "set_last_invoices", "complete runs.last invoice"),
    ("billrun.billing.persist", "_publish_drafted", "webhook events queued"),
    ("billrun.billing.outbox", "_write", "webhook outbox"),
    ("billrun.store.webhooks", "write_outbox", "webhook outbox.outbox row"),
)


def _timed(times: defaultdict[str, float], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            times[name] += time.perf_counter() - started

    return wrapper


def _install(times: defaultdict[str, float]) -> Callable[[], None]:
    """Wrap every stage (and commit) and return the function that puts the originals back."""
    import importlib

    undo: list[tuple[Any, str, Any]] = []
    for module_name, attribute, name in STAGES:
        module = importlib.import_module(module_name)
        original = getattr(module, attribute)
        undo.append((module, attribute, original))
        setattr(module, attribute, _timed(times, name, original))
    undo.append((Session, "commit", Session.commit))
    Session.commit = _timed(times, "commit", Session.commit)  # type: ignore[method-assign]

    def restore() -> None:
        for owner, attribute, original in undo:
            setattr(owner, attribute, original)

    return restore


class _Collect(NoDispatcher):
    """A dispatcher that keeps the chunks the tick hands out."""

    def __init__(self) -> None:
        self.chunks: list[list[uuid.UUID]] = []

    def execute_runs(self, run_ids: Sequence[uuid.UUID], manual: bool = False) -> None:
        self.chunks.append(list(run_ids))


def _toggle(endpoint_id: uuid.UUID, enabled: bool) -> None:
    from sqlalchemy import update

    from billrun.store.db import unit_of_work
    from billrun.store.models import WebhookEndpoint

    with unit_of_work() as s:
        s.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(disabled_at=None if enabled else dt.datetime.now(dt.UTC))
        )


def main(
    schedules: int, profile: bool, results: Path, webhook_endpoint: bool = False, webhook_ab: bool = False
) -> dict[str, Any]:
    """``webhook_ab``: the endpoint subscribed for every other chunk only (disabled in between), each chunk
    timed: the same process, data and minute for both arms, so that the machine's drift (+/-10% between
    runs of this benchmark) cancels out of the difference."""
    from billrun.billing import chunk, triggers
    from billrun.billing.dispatch import set_dispatcher

    prepare_database()
    account_id = generate(schedules, schedules * 100)
    endpoint_id = None
    if webhook_endpoint or webhook_ab:
        endpoint_id = subscribe(account_id, "https://hooks.example.com/billrun")  # written, never delivered here
    arms: dict[bool, list[float]] = {True: [], False: []}
    collect = _Collect()
    set_dispatcher(collect)
    started = time.perf_counter()
    triggers.tick(now=dt.datetime(2024, 2, 1, 0, 5, tzinfo=dt.UTC))
    tick_seconds = time.perf_counter() - started
    tune_collector()  # as a worker process does when it starts
    times: defaultdict[str, float] = defaultdict(float)
    restore = _install(times)
    profiler = cProfile.Profile() if profile else None
    invoices = 0
    try:
        if profiler:
            profiler.enable()
        elapsed = 0.0
        for n, run_ids in enumerate(collect.chunks):
            subscribed = webhook_endpoint or (webhook_ab and n % 2 == 0)
            if webhook_ab:
                assert endpoint_id is not None
                _toggle(endpoint_id, subscribed)
            started = time.perf_counter()
            invoices += sum(1 for outcome in chunk.execute_chunk(run_ids) if outcome.invoice_id)
            arms[bool(subscribed)].append(time.perf_counter() - started)
            elapsed += arms[bool(subscribed)][-1]
        if profiler:
            profiler.disable()
    finally:
        restore()
    result: dict[str, Any] = {
        "schedules": schedules,
        "chunks": len(collect.chunks),
        "invoices": invoices,
        "tick_seconds": round(tick_seconds, 3),
        "chunks_seconds": round(elapsed, 3),
        "ms_per_invoice": round(elapsed / max(invoices, 1) * 1000, 3),
        "profiled": profile,
        "webhook_endpoint": webhook_endpoint,
        "webhook_ab": webhook_ab,
        "stages": {name: round(times[name], 3) for _, _, name in STAGES} | {"commit": round(times["commit"], 3)},
    }
    if webhook_ab:
        # the first chunk of a process pays for warming up: compare the rest
        on, off = statistics.median(arms[True][1:]), statistics.median(arms[False][1:])
        result["ab"] = {
            "chunks_each": [len(arms[True]), len(arms[False])],
            "median_chunk_seconds_subscribed": round(on, 4),
            "median_chunk_seconds_not_subscribed": round(off, 4),
            "difference_percent": round((on - off) / off * 100, 2),
        }
    for name, seconds in result["stages"].items():
        indent = "    " if "." in name else ""
        print(f"{indent}{name:50s} {seconds:7.3f} s  {seconds / elapsed * 100:5.1f}%")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())
    print(json.dumps(result))
    results.mkdir(exist_ok=True)
    suffix = ("-profiled" if profile else "") + ("-webhook" if webhook_endpoint else "") + ("-ab" if webhook_ab else "")
    (results / f"chunks-{schedules}{suffix}.json").write_text(json.dumps(result) + "\n")
    return result
