"""``python -m bench ingest --events N``: the batch ingestion path against a raw COPY floor.

Both run in the same process against the same PostgreSQL server:
- **batch path**: billrun's own ingestion, exactly what ``POST /usage-events/batch`` runs after JSON
  parsing: per-event validation (:mod:`billrun.ingest.validation`), sequence numbers, the last-wins upsert
  and COPY into ``usage_events`` with its indexes, one transaction per 1,000-event batch;
- **floor**: the same rows COPYed into a bare table (no indexes, no constraints), also 1,000 per
  transaction.

It prints one JSON object last: ``{"events", "batch_rows_per_s", "copy_rows_per_s", "ratio"}``, plus
``indexed_copy_rows_per_s`` / ``indexed_copy_ratio``: the same rows COPYed straight into ``usage_events``
(its indexes, nothing else), the ceiling any batch path into that table can reach, and
``batch_to_indexed_copy``: the batch path's speed as a fraction of that ceiling.

``--ingest-preload N`` first gives the measured account N earlier events (its 5,000 customers, a month of
timestamps, other event ids), written by PostgreSQL itself a million per transaction: the measured batches
then go into index ranges that no longer fit in memory, as a long-lived account's would. (The two COPY
figures use accounts of their own, as without a preload.)
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from typing import Any

from sqlalchemy import text

from billrun.ids import uuid7
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


COLUMNS = (
    "id, account_id, ingest_seq, customer_event_id, customer_alias, event_type, event_timestamp, event_properties, "
    "is_latest, created_at"
)


def _rows(events: list[dict[str, Any]], account_id: uuid.UUID) -> list[tuple[Any, ...]]:
    received = dt.datetime.now(dt.UTC)
    return [
        (
            uuid7(),
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


def _copy_seconds(table: str, rows: list[tuple[Any, ...]]) -> float:
    """COPY ``rows`` into ``table``, 1,000 per transaction, as the batch path does; only the COPY is timed."""
    engine = get_engine()
    started = time.perf_counter()
    for offset in range(0, len(rows), BATCH):
        raw = engine.raw_connection()
        try:
            with (
                raw.cursor() as cursor,
                cursor.copy(  # type: ignore[attr-defined]
                    f"COPY {table} ({COLUMNS}) FROM STDIN"
                ) as copy,
            ):
                for row in rows[offset : offset + BATCH]:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
    return time.perf_counter() - started


def run_copy_floor(events: list[dict[str, Any]], account_id: uuid.UUID) -> float:
    """The floor: the same rows into a bare table (no indexes, no constraints)."""
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
    elapsed = _copy_seconds("bench_copy_floor", _rows(events, account_id))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_copy_floor"))
    return elapsed


def run_indexed_copy(events: list[dict[str, Any]], account_id: uuid.UUID) -> float:
    """The ceiling of any batch path: the same rows COPYed straight into ``usage_events`` with its indexes, no
    validation, no sequence, no last-wins bookkeeping (each row its own id, so every one is latest)."""
    rows = [(*r[:3], f"{r[3]}-{r[2]}", *r[4:]) for r in _rows(events, account_id)]
    return _copy_seconds("usage_events", rows)


PRELOAD_STEP = 1_000_000


def preload(account_id: uuid.UUID, count: int) -> float:
    """``count`` earlier events of the account, for the customers the
    measured events name, in random customer and time order; returns the seconds taken."""
    started = time.perf_counter()
    for offset in range(0, count, PRELOAD_STEP):
        with unit_of_work() as session:
            session.execute(
                text(
                    "INSERT INTO usage_events (id, account_id, customer_event_id, customer_alias, "
                    "event_type, event_timestamp, event_properties, is_latest, created_at) "
                    "SELECT gen_random_uuid(), :account, 'pre-' || g, 'cust-' || (random() * 5000)::int, "
                    "'api_call', '2024-01-01'::timestamptz + random() * interval '31 days', "
                    "jsonb_build_object('bytes', (random() * 10000)::int, 'region', "
                    "CASE WHEN random() < 0.5 THEN 'eu' ELSE 'us' END), true, now() "
                    "FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g"
                ),
                {"account": account_id, "first": offset, "last": min(offset + PRELOAD_STEP, count) - 1},
            )
        print(f"preloaded {min(offset + PRELOAD_STEP, count):,} events", flush=True)
    with unit_of_work() as session:
        session.execute(text("ANALYZE usage_events"))
    return time.perf_counter() - started


def main(events_count: int, preload_count: int = 0) -> dict[str, Any]:
    from billrun.store import migrate

    migrate.upgrade("head")
    with unit_of_work() as session:
        account = Account(name=f"bench-ingest-{uuid.uuid4().hex[:6]}")
        session.add(account)
        session.flush()
        account_id = account.id
    preload_seconds = preload(account_id, preload_count) if preload_count else 0.0
    events = generate(events_count)
    copy_seconds = run_copy_floor(events, account_id)
    batch_seconds = run_batch_path(account_id, events)
    with unit_of_work() as session:  # its own account, so that it does not touch the batch path's rows
        other = Account(name=f"bench-ingest-indexed-{uuid.uuid4().hex[:6]}")
        session.add(other)
        session.flush()
        other_id = other.id
    indexed_seconds = run_indexed_copy(events, other_id)
    result = {
        "events": events_count,
        "preloaded": preload_count,
        "preload_seconds": round(preload_seconds, 1),
        "batch_rows_per_s": round(events_count / batch_seconds),
        "copy_rows_per_s": round(events_count / copy_seconds),
        "ratio": round(copy_seconds / batch_seconds, 3),
        # what the indexes alone allow: COPY into usage_events itself, relative to the bare COPY
        "indexed_copy_rows_per_s": round(events_count / indexed_seconds),
        "indexed_copy_ratio": round(copy_seconds / indexed_seconds, 3),
        # issue #19's measure: the batch path against that ceiling (1.0 = as fast as the bare indexed COPY)
        "batch_to_indexed_copy": round(indexed_seconds / batch_seconds, 3),
    }
    print(json.dumps(result))
    return result
