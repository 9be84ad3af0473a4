"""Writing usage and seat events in bulk with last-received-wins flags (SPEC §5.1).

A batch is one transaction:
1. take ``ingestSeq`` values from the sequence, in array order;
2. COPY the rows in (flag ``is_latest`` false for ids that may collide);
3. upsert ``GREATEST(latest_seq)`` per customerEventId, in id order: the row lock on each id serialises
   concurrent writers of that id, whichever commits first;
4. flip ``is_latest`` to the row holding the latest sequence (false first, then true, so the partial unique
   index never sees two winners). The flipped-off rows are returned: their timestamps trigger
   recalculation too (SPEC §5.7).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from billrun import jsonutil


@dataclass(frozen=True)
class NewUsageEvent:
    customer_event_id: str
    customer_alias: str
    event_type: str
    event_timestamp: dt.datetime
    event_properties: dict[str, Any]
    generated_id: bool = False


@dataclass(frozen=True)
class NewSeatEvent:
    customer_event_id: str
    customer_alias: str
    seat_type: str
    event_timestamp: dt.datetime
    total: int
    generated_id: bool = False


@dataclass(frozen=True)
class Stored:
    id: uuid.UUID
    ingest_seq: int
    created_at: dt.datetime


@dataclass(frozen=True)
class Superseded:
    customer_alias: str
    event_timestamp: dt.datetime


def _sequence_values(session: Session, sequence: str, count: int) -> list[int]:
    rows = session.execute(text(f"SELECT nextval('{sequence}') FROM generate_series(1, :n)"), {"n": count}).scalars()
    return sorted(int(v) for v in rows)


def _fix_latest(
    session: Session, table: str, ids_table: str, account_id: uuid.UUID, latest: dict[str, int]
) -> list[Superseded]:
    if not latest:
        return []
    event_ids = sorted(latest)
    session.execute(
        text(
            f"INSERT INTO {ids_table} (account_id, customer_event_id, latest_seq) "
            "SELECT :account, ceid, seq FROM unnest(CAST(:ids AS text[]), CAST(:seqs AS bigint[])) AS t(ceid, seq) "
            "ORDER BY ceid "
            f"ON CONFLICT (account_id, customer_event_id) DO UPDATE "
            f"SET latest_seq = GREATEST({ids_table}.latest_seq, EXCLUDED.latest_seq)"
        ),
        {"account": account_id, "ids": event_ids, "seqs": [latest[i] for i in event_ids]},
    )
    params = {"account": account_id, "ids": event_ids}
    flipped_off = session.execute(
        text(
            f"UPDATE {table} e SET is_latest = false FROM {ids_table} l "
            "WHERE l.account_id = :account AND l.customer_event_id = ANY(:ids) AND e.account_id = l.account_id "
            "AND e.customer_event_id = l.customer_event_id AND e.is_latest AND e.ingest_seq <> l.latest_seq "
            "RETURNING e.customer_alias, e.event_timestamp"
        ),
        params,
    ).all()
    session.execute(
        text(
            f"UPDATE {table} e SET is_latest = true FROM {ids_table} l "
            "WHERE l.account_id = :account AND l.customer_event_id = ANY(:ids) AND e.account_id = l.account_id "
            "AND e.customer_event_id = l.customer_event_id AND NOT e.is_latest AND e.ingest_seq = l.latest_seq"
        ),
        params,
    )
    return [Superseded(r[0], r[1]) for r in flipped_off]


def _copy(session: Session, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """COPY rows through the session's own psycopg connection (same transaction)."""
    connection: Any = session.connection().connection.dbapi_connection
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def insert_usage_events(
    session: Session, account_id: uuid.UUID, events: Sequence[NewUsageEvent], received_at: dt.datetime
) -> tuple[list[Stored], list[Superseded]]:
    if not events:
        return [], []
    seqs = _sequence_values(session, "usage_events_ingest_seq", len(events))
    ids = [uuid.uuid4() for _ in events]
    latest: dict[str, int] = {}
    for event, seq in zip(events, seqs, strict=True):
        if not event.generated_id:
            latest[event.customer_event_id] = seq
    rows = [
        (
            ids[i],
            account_id,
            seqs[i],
            e.customer_event_id,
            e.customer_alias,
            e.event_type,
            e.event_timestamp,
            jsonutil.dumps(e.event_properties),
            e.generated_id,
            received_at,
        )
        for i, e in enumerate(events)
    ]
    _copy(
        session,
        "usage_events",
        [
            "id",
            "account_id",
            "ingest_seq",
            "customer_event_id",
            "customer_alias",
            "event_type",
            "event_timestamp",
            "event_properties",
            "is_latest",
            "created_at",
        ],
        rows,
    )
    superseded = _fix_latest(session, "usage_events", "usage_event_ids", account_id, latest)
    return [Stored(ids[i], seqs[i], received_at) for i in range(len(events))], superseded


def insert_seat_events(
    session: Session, account_id: uuid.UUID, events: Sequence[NewSeatEvent], received_at: dt.datetime
) -> tuple[list[Stored], list[Superseded]]:
    if not events:
        return [], []
    seqs = _sequence_values(session, "seat_events_ingest_seq", len(events))
    ids = [uuid.uuid4() for _ in events]
    latest: dict[str, int] = {}
    for event, seq in zip(events, seqs, strict=True):
        if not event.generated_id:
            latest[event.customer_event_id] = seq
    rows = [
        (
            ids[i],
            account_id,
            seqs[i],
            e.customer_event_id,
            e.customer_alias,
            e.seat_type,
            e.event_timestamp,
            e.total,
            e.generated_id,
            received_at,
        )
        for i, e in enumerate(events)
    ]
    _copy(
        session,
        "seat_events",
        [
            "id",
            "account_id",
            "ingest_seq",
            "customer_event_id",
            "customer_alias",
            "seat_type",
            "event_timestamp",
            "total",
            "is_latest",
            "created_at",
        ],
        rows,
    )
    superseded = _fix_latest(session, "seat_events", "seat_event_ids", account_id, latest)
    return [Stored(ids[i], seqs[i], received_at) for i in range(len(events))], superseded
