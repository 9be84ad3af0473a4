"""``python -m bench ingest --events N``: the batch ingestion path against a raw COPY floor.

Both run in the same process against the same PostgreSQL server:
- **batch path**: billrun's own ingestion, exactly what ``POST /usage-events/batch`` runs after JSON
  parsing: per-event validation (:mod:`billrun.ingest.validation`), sequence numbers, the last-wins upsert
  and COPY into ``usage_events`` with its indexes, one transaction per 1,000-event batch;
- **floor**: the same rows COPYed into a bare table (no indexes, no constraints), also 1,000 per
  transaction.

It prints one JSON object last: ``{"events", "batch_rows_per_s", "copy_rows_per_s", "ratio"}``.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from typing import Any

from sqlalchemy import text

from billrun.ingest.validation import usage_event
from billrun.jsonutil import dumps
from billrun.store.db import get_engine, unit_of_work
from billrun.store.events import NewUsageEvent, insert_usage_events
from billrun.store.models import Account
from billrun.validation import FieldError

BATCH = 1000


def generate(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Realistic events: 5,000 customers, a month of timestamps, 2% overrides of earlier ids, a few VOIDs."""
    rng = random.Random(seed)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    events = []
    for i in range(count):
        event_id = f"evt-{rng.randrange(i)}" if i > 100 and rng.random() < 0.02 else f"evt-{i}"
        alias = "VOID" if rng.random() < 0.001 else f"cust-{rng.randrange(5000)}"
        stamp = start + dt.timedelta(seconds=rng.randrange(31 * 86400))
        events.append(
            {
                "customerEventId": event_id,
                "customerAlias": alias,
                "eventType": "api_call",
                "eventTimestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventProperties": {"bytes": rng.randrange(1, 10_000), "region": rng.choice(["eu", "us"])},
            }
        )
    return events


def run_batch_path(account_id: uuid.UUID, events: list[dict[str, Any]]) -> float:
    received = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    for offset in range(0, len(events), BATCH):
        errors: list[FieldError] = []
        parsed = [
            usage_event(e, f"events[{i}]", errors, received) for i, e in enumerate(events[offset : offset + BATCH])
        ]
        valid = [p for p in parsed if isinstance(p, NewUsageEvent)]
        with unit_of_work() as session:
            insert_usage_events(session, account_id, valid, received)
    return time.perf_counter() - started


def run_copy_floor(events: list[dict[str, Any]], account_id: uuid.UUID) -> float:
    engine = get_engine()
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS bench_copy_floor"))
        conn.execute(
            text(
                "CREATE TABLE bench_copy_floor (id uuid, account_id uuid, ingest_seq bigint, customer_event_id text, "
                "customer_alias text, event_type text, event_timestamp timestamptz, event_properties jsonb, "
                "is_latest boolean, created_at timestamptz)"
            )
        )
    received = dt.datetime.now(dt.UTC)
    rows = [
        (
            uuid.uuid4(),
            account_id,
            i,
            e["customerEventId"],
            e["customerAlias"],
            e["eventType"],
            e["eventTimestamp"],
            dumps(e["eventProperties"]),
            True,
            received,
        )
        for i, e in enumerate(events)
    ]
    started = time.perf_counter()
    for offset in range(0, len(rows), BATCH):
        raw = engine.raw_connection()
        try:
            with (
                raw.cursor() as cursor,
                cursor.copy(  # type: ignore[attr-defined]
                    "COPY bench_copy_floor FROM STDIN"
                ) as copy,
            ):
                for row in rows[offset : offset + BATCH]:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
    elapsed = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_copy_floor"))
    return elapsed


def main(events_count: int) -> dict[str, Any]:
    from billrun.store import migrate

    migrate.upgrade("head")
    with unit_of_work() as session:
        account = Account(name=f"bench-ingest-{uuid.uuid4().hex[:6]}")
        session.add(account)
        session.flush()
        account_id = account.id
    events = generate(events_count)
    copy_seconds = run_copy_floor(events, account_id)
    batch_seconds = run_batch_path(account_id, events)
    result = {
        "events": events_count,
        "batch_rows_per_s": round(events_count / batch_seconds),
        "copy_rows_per_s": round(events_count / copy_seconds),
        "ratio": round(copy_seconds / batch_seconds, 3),
    }
    print(json.dumps(result))
    return result
