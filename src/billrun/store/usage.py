"""Usage aggregation in PostgreSQL, equal by construction to :mod:`billrun.domain.usage` (SPEC §5).

Only winning rows count (``is_latest``, maintained at ingest); ``VOID`` matches no customer; windows are
half-open UTC day ranges; numeric values follow the ISO 31-0 grammar of SPEC §5.4.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from billrun.domain.inputs import AggregationType, MetricSpec
from billrun.domain.periods import DateRange
from billrun.domain.seats import SeatEventRecord
from billrun.domain.usage import EMPTY_DIGEST, VOID_ALIAS, UsageValue, fold, window_bounds

NUMERIC_PATTERN = r"^[+-]?[0-9]+(\.[0-9]+)?$"

#: each counted event's term of :func:`billrun.domain.usage.event_digest`: its id's low 64 bits (as a signed
#: bigint; their sum, a numeric, is taken modulo 2^64 in Python, where signs make no difference)
DIGEST_TERM_SQL = "('x' || encode(substring(uuid_send(e.id) from 9), 'hex'))::bit(64)::bigint"


def _prop(name: str, params: dict[str, Any], prefix: str) -> str:
    key = f"{prefix}_prop"
    params[key] = name
    return f"(e.event_properties -> :{key})"


def numeric_sql(value: str) -> str:
    """The ISO 31-0 numeric value of a JSONB property, or NULL when it is invalid."""
    return (
        f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN ({value})::numeric "
        f"WHEN jsonb_typeof({value}) = 'string' AND ({value} #>> '{{}}') ~ '{NUMERIC_PATTERN}' "
        f"THEN ({value} #>> '{{}}')::numeric END)"
    )


def _filter_text(value: str) -> str:
    """A property as filters compare it: strings as is, other scalars as their JSON text."""
    return (
        f"(CASE jsonb_typeof({value}) WHEN 'string' THEN {value} #>> '{{}}' "
        f"WHEN 'null' THEN NULL ELSE {value}::text END)"
    )


def filter_sql(metric: MetricSpec, params: dict[str, Any], prefix: str = "f") -> str:
    """AND across properties, OR within one, negation and optional case folding (SPEC §5.5)."""
    clauses = []
    for i, (prop, allowed) in enumerate(sorted(metric.property_filters.items())):
        value = _filter_text(_prop(prop, params, f"{prefix}{i}"))
        key = f"{prefix}{i}_values"
        if metric.case_sensitive:
            params[key] = list(allowed)
            listed = f"{value} = ANY(:{key})"
        else:
            # both sides folded exactly as the reference does (NFKC, then Unicode case folding)
            params[key] = [fold(a) for a in allowed]
            listed = f"billrun_casefold({value}) = ANY(:{key})"
        if prop in metric.properties_to_negate:
            clauses.append(f"({value} IS NULL OR NOT ({listed}))")
        else:
            clauses.append(f"({value} IS NOT NULL AND {listed})")
    return " AND ".join(clauses) if clauses else "TRUE"


def _base_where(
    account_id: uuid.UUID,
    metric: MetricSpec,
    aliases: Iterable[str],
    window: DateRange,
    params: dict[str, Any],
    *,
    latest: bool = True,
) -> str:
    """The metric's match on ``e``; ``latest=False`` leaves out the winning-row condition (the caller picks
    the winners)."""
    start, end = window_bounds(window)
    params.update(
        account=account_id,
        event_type=metric.event_type,
        aliases=sorted(set(aliases) - {VOID_ALIAS}),
        start=start,
        end=end,
    )
    return (
        f"e.account_id = :account {'AND e.is_latest ' if latest else ''}AND e.event_type = :event_type "
        "AND e.customer_alias = ANY(:aliases) AND e.event_timestamp >= :start AND e.event_timestamp < :end "
        f"AND {filter_sql(metric, params)}"
    )


def _measure(metric: MetricSpec, value: str) -> tuple[str, str]:
    """(measure, invalid count) SQL of the metric's aggregation over the property expression ``value``."""
    numeric = numeric_sql(value)
    if metric.aggregation_type == AggregationType.COUNT:
        return "count(e.id)", "0"
    if metric.aggregation_type == AggregationType.SUM:
        return f"coalesce(sum({numeric}), 0)", f"count(e.id) FILTER (WHERE {numeric} IS NULL)"
    if metric.aggregation_type == AggregationType.MAX:
        return f"coalesce(max({numeric}), 0)", f"count(e.id) FILTER (WHERE {numeric} IS NULL)"
    unique_key = (
        f"(CASE jsonb_typeof({value}) WHEN 'number' THEN 'n:' || trim_scale(({value})::numeric)::text "
        f"WHEN 'string' THEN CASE WHEN {value} #>> '{{}}' <> '' THEN 's:' || ({value} #>> '{{}}') END "
        f"WHEN 'boolean' THEN 'b:' || ({value})::text END)"
    )
    return f"count(DISTINCT {unique_key})", "0"


def aggregate_many(
    session: Session,
    account_id: uuid.UUID,
    metric: MetricSpec,
    requests: Sequence[tuple[Iterable[str], DateRange]],
    with_ids: bool = False,
) -> list[UsageValue]:
    """One metric over many (alias set, window) pairs in ONE set-based query: a whole chunk of billing runs
    reads its usage in a single round trip per metric. Results are in request order."""
    if not requests:
        return []
    qids: list[int] = []
    aliases: list[str] = []
    starts: list[dt.datetime] = []
    ends: list[dt.datetime] = []
    for qid, (alias_set, window) in enumerate(requests):
        start, end = window_bounds(window)
        for alias in sorted(set(alias_set) - {VOID_ALIAS}):
            qids.append(qid)
            aliases.append(alias)
            starts.append(start)
            ends.append(end)
    params: dict[str, Any] = {
        "account": account_id,
        "event_type": metric.event_type,
        "qids": qids,
        "aliases": aliases,
        "starts": starts,
        "ends": ends,
    }
    value = _prop(metric.aggregation_property or "", params, "agg")
    measure, invalid = _measure(metric, value)
    # ids only when asked for, as text: a calculation records their digest, computed here (SPEC §6.7)
    ids = "array_agg(e.id::text ORDER BY e.ingest_seq)" if with_ids else "NULL::text[]"
    rows = session.execute(
        text(
            f"SELECT q.qid, {measure}, count(e.id), {invalid}, {ids}, sum({DIGEST_TERM_SQL}) "
            "FROM unnest(CAST(:qids AS int[]), CAST(:aliases AS text[]), CAST(:starts AS timestamptz[]), "
            "CAST(:ends AS timestamptz[])) AS q(qid, alias, ws, we) "
            "JOIN usage_events e ON e.account_id = :account AND e.is_latest AND e.event_type = :event_type "
            "AND e.customer_alias = q.alias AND e.event_timestamp >= q.ws AND e.event_timestamp < q.we "
            f"WHERE {filter_sql(metric, params)} GROUP BY q.qid"
        ),
        params,
    ).all()
    # read after the aggregation: every event it counted was numbered at or below the watermark
    mark = watermark(session)
    found = {
        int(r[0]): UsageValue(
            Decimal(r[1]), int(r[2]), int(r[3]), tuple(r[4] or ()), format(int(r[5]) % 2**64, "016x"), mark
        )
        for r in rows
    }
    return [found.get(qid, UsageValue(Decimal(0), digest=EMPTY_DIGEST, watermark=mark)) for qid in range(len(requests))]


def watermark(session: Session) -> int:
    """The highest ``ingestSeq`` handed out so far: a calculation that read usage after this moment saw no
    event numbered above it (SPEC §6.7's ingest watermark)."""
    return int(
        session.execute(
            text("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM usage_events_ingest_seq")
        ).scalar_one()
    )


def events_as_of(
    session: Session, account_id: uuid.UUID, metric: MetricSpec, aliases: Iterable[str], window: DateRange, mark: int
) -> tuple[list[str], bool]:
    """The events a calculation at watermark ``mark`` counted (SPEC §6.7, revised), derived again: the
    winning rows among those numbered up to ``mark`` that match the metric, alias set and window, in ingest
    order; and whether the set counted today differs (an event received since then joins it or replaces one
    of it).

    A row that wins today and is numbered up to ``mark`` also won then; a row that won then and has lost
    since belongs to a customer event id received again after ``mark``, found by the BRIN index on
    ``ingest_seq``."""
    params: dict[str, Any] = {"mark": mark}
    latest = _base_where(account_id, metric, aliases, window, params)
    any_row = _base_where(account_id, metric, aliases, window, params, latest=False)
    rows = session.execute(
        text(
            "WITH again AS (SELECT DISTINCT customer_event_id FROM usage_events "
            "WHERE account_id = :account AND ingest_seq > :mark), "
            "then_won AS (SELECT DISTINCT ON (e.customer_event_id) e.* FROM usage_events e "
            "WHERE e.account_id = :account AND e.ingest_seq <= :mark "
            "AND e.customer_event_id IN (SELECT customer_event_id FROM again) "
            "ORDER BY e.customer_event_id, e.ingest_seq DESC) "
            f"SELECT e.id::text, e.ingest_seq, 'kept' FROM usage_events e WHERE {latest} AND e.ingest_seq <= :mark "
            f"UNION ALL SELECT e.id::text, e.ingest_seq, 'replaced' FROM then_won e WHERE {any_row} "
            f"UNION ALL SELECT e.id::text, e.ingest_seq, 'new' FROM usage_events e WHERE {latest} "
            "AND e.ingest_seq > :mark ORDER BY 2"
        ),
        params,
    ).all()
    counted = [r[0] for r in rows if r[2] != "new"]
    return counted, any(r[2] != "kept" for r in rows)


def aggregate(
    session: Session,
    account_id: uuid.UUID,
    metric: MetricSpec,
    aliases: Iterable[str],
    window: DateRange,
    with_ids: bool = False,
) -> UsageValue:
    """One metric over one window, from winning rows only."""
    return aggregate_many(session, account_id, metric, [(aliases, window)], with_ids)[0]


def event_values(
    session: Session, account_id: uuid.UUID, metric: MetricSpec, aliases: Iterable[str], window: DateRange
) -> tuple[Decimal | None, ...]:
    """Per-event numeric values in receive order, for per-event fees (SPEC §4.6.3)."""
    params: dict[str, Any] = {}
    where = _base_where(account_id, metric, aliases, window, params)
    numeric = numeric_sql(_prop(metric.aggregation_property or "", params, "agg"))
    rows = session.execute(
        text(f"SELECT {numeric} FROM usage_events e WHERE {where} ORDER BY e.ingest_seq"), params
    ).scalars()
    return tuple(Decimal(v) if v is not None else None for v in rows)


def event_days(
    session: Session, account_id: uuid.UUID, metric: MetricSpec, aliases: Iterable[str], window: DateRange
) -> frozenset[dt.date]:
    """UTC days with at least one matching event: the drafting days of ON_DEMAND prices (SPEC §4.6.8)."""
    params: dict[str, Any] = {}
    where = _base_where(account_id, metric, aliases, window, params)
    rows = session.execute(
        text(f"SELECT DISTINCT (e.event_timestamp AT TIME ZONE 'UTC')::date FROM usage_events e WHERE {where}"),
        params,
    ).scalars()
    return frozenset(rows)


def seat_rows_many(
    session: Session, account_id: uuid.UUID, requests: Sequence[tuple[str, Iterable[str]]]
) -> list[list[SeatEventRecord]]:
    """Winning seat events for many (seat type, alias set) pairs in one query, in request order."""
    if not requests:
        return []
    qids: list[int] = []
    types: list[str] = []
    aliases: list[str] = []
    for qid, (seat_type, alias_set) in enumerate(requests):
        for alias in sorted(set(alias_set) - {VOID_ALIAS}):
            qids.append(qid)
            types.append(seat_type)
            aliases.append(alias)
    rows = session.execute(
        text(
            "SELECT q.qid, s.id, s.customer_event_id, s.customer_alias, s.seat_type, s.event_timestamp, s.total, "
            "s.ingest_seq FROM unnest(CAST(:qids AS int[]), CAST(:types AS text[]), CAST(:aliases AS text[])) "
            "AS q(qid, seat_type, alias) JOIN seat_events s ON s.account_id = :account AND s.is_latest "
            "AND s.seat_type = q.seat_type AND s.customer_alias = q.alias "
            "ORDER BY q.qid, s.event_timestamp, s.ingest_seq"
        ),
        {"account": account_id, "qids": qids, "types": types, "aliases": aliases},
    ).all()
    result: list[list[SeatEventRecord]] = [[] for _ in requests]
    for r in rows:
        result[int(r[0])].append(SeatEventRecord(int(r[7]), r[2], r[3], r[4], r[5], int(r[6]), str(r[1])))
    return result


def seat_rows(
    session: Session, account_id: uuid.UUID, seat_type: str, aliases: Iterable[str], before: dt.datetime | None = None
) -> list[SeatEventRecord]:
    """Winning seat events of ``seat_type`` for the alias set (optionally only those before a moment)."""
    params: dict[str, Any] = {
        "account": account_id,
        "seat_type": seat_type,
        "aliases": sorted(set(aliases) - {VOID_ALIAS}),
    }
    limit = ""
    if before is not None:
        params["before"] = before
        limit = "AND s.event_timestamp < :before"
    rows = session.execute(
        text(
            "SELECT s.id, s.customer_event_id, s.customer_alias, s.seat_type, s.event_timestamp, s.total, "
            "s.ingest_seq FROM seat_events s WHERE s.account_id = :account AND s.is_latest "
            f"AND s.seat_type = :seat_type AND s.customer_alias = ANY(:aliases) {limit} "
            "ORDER BY s.event_timestamp, s.ingest_seq"
        ),
        params,
    ).all()
    return [SeatEventRecord(int(r[6]), r[1], r[2], r[3], r[4], int(r[5]), str(r[0])) for r in rows]


def events_by_ids(session: Session, account_id: uuid.UUID, ids: Sequence[str]) -> list[Row[Any]]:
    """The usage events ``ids`` names (superseded rows included: a snapshot lists what it counted), in the
    order given."""
    if not ids:
        return []
    rows = session.execute(
        text(
            "SELECT e.id::text AS id, e.customer_event_id, e.customer_alias, e.event_type, e.event_timestamp, "
            "e.event_properties, e.is_latest, e.ingest_seq FROM usage_events e "
            "WHERE e.account_id = :account AND e.id = ANY(CAST(:ids AS uuid[]))"
        ),
        {"account": account_id, "ids": list(ids)},
    ).all()
    by_id = {row.id: row for row in rows}
    return [by_id[i] for i in ids if i in by_id]
