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
from billrun.domain.usage import VOID_ALIAS, UsageValue, fold, window_bounds

NUMERIC_PATTERN = r"^[+-]?[0-9]+(\.[0-9]+)?$"


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
    account_id: uuid.UUID, metric: MetricSpec, aliases: Iterable[str], window: DateRange, params: dict[str, Any]
) -> str:
    start, end = window_bounds(window)
    params.update(
        account=account_id,
        event_type=metric.event_type,
        aliases=sorted(set(aliases) - {VOID_ALIAS}),
        start=start,
        end=end,
    )
    return (
        "e.account_id = :account AND e.is_latest AND e.event_type = :event_type "
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
    with_ids: bool = True,
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
    # ids as text: the snapshot stores strings, and building 100,000s of UUID objects only to str() them costs
    ids = "array_agg(e.id::text ORDER BY e.ingest_seq)" if with_ids else "NULL::text[]"
    rows = session.execute(
        text(
            f"SELECT q.qid, {measure}, count(e.id), {invalid}, {ids} "
            "FROM unnest(CAST(:qids AS int[]), CAST(:aliases AS text[]), CAST(:starts AS timestamptz[]), "
            "CAST(:ends AS timestamptz[])) AS q(qid, alias, ws, we) "
            "JOIN usage_events e ON e.account_id = :account AND e.is_latest AND e.event_type = :event_type "
            "AND e.customer_alias = q.alias AND e.event_timestamp >= q.ws AND e.event_timestamp < q.we "
            f"WHERE {filter_sql(metric, params)} GROUP BY q.qid"
        ),
        params,
    ).all()
    found = {
        int(r[0]): UsageValue(Decimal(r[1]), int(r[2]), int(r[3]), tuple(i for i in (r[4] or []) if i)) for r in rows
    }
    return [found.get(qid, UsageValue(Decimal(0))) for qid in range(len(requests))]


def aggregate(
    session: Session,
    account_id: uuid.UUID,
    metric: MetricSpec,
    aliases: Iterable[str],
    window: DateRange,
    with_ids: bool = True,
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
