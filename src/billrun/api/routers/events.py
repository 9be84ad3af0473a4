"""Usage events, seat events and seat balances (SPEC §2.6-§2.7, §5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from billrun.api.errors import field_error, not_found, validation_error
from billrun.api.http import Caller, JSONResponse, Query, caller, page_params, parse_json, raw_body, run_mutation
from billrun.api.listing import all_items, list_page
from billrun.billing import seat_balances as balances
from billrun.billing.clock import real_now
from billrun.config import get_settings
from billrun.domain.periods import DateRange
from billrun.ingest import csv_upload
from billrun.ingest import validation as ingest
from billrun.ingest.accept import accept_seats, accept_usage
from billrun.store import catalog
from billrun.store import events as event_repo
from billrun.store import usage as usage_repo
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import Customer, CustomerAlias, SeatEvent, UsageEvent, UsageMetric
from billrun.validation import FieldError
from billrun.views.serialize import ts

router = APIRouter()


def usage_event_json(e: UsageEvent) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "sequenceAccountId": str(e.account_id),
        "customerEventId": e.customer_event_id,
        "customerAlias": e.customer_alias,
        "eventType": e.event_type,
        "eventTimestamp": ts(e.event_timestamp),
        "eventProperties": e.event_properties,
        "isLatestForCustomerEventId": e.is_latest,
    }


def _new_usage_json(who: Caller, stored: event_repo.Stored, e: event_repo.NewUsageEvent) -> dict[str, Any]:
    return {
        "id": str(stored.id),
        "sequenceAccountId": str(who.account_id),
        "customerEventId": e.customer_event_id,
        "customerAlias": e.customer_alias,
        "eventType": e.event_type,
        "eventTimestamp": ts(e.event_timestamp),
        "eventProperties": e.event_properties,
    }


def seat_event_json(e: SeatEvent) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "customerEventId": e.customer_event_id,
        "customerAlias": e.customer_alias,
        "seatType": e.seat_type,
        "sequenceAccountId": str(e.account_id),
        "eventTimestamp": ts(e.event_timestamp),
        "total": e.total,
        "isLatestForCustomerEventId": e.is_latest,
    }


def _new_seat_json(who: Caller, stored: event_repo.Stored, e: event_repo.NewSeatEvent) -> dict[str, Any]:
    return {
        "id": str(stored.id),
        "customerEventId": e.customer_event_id,
        "customerAlias": e.customer_alias,
        "seatType": e.seat_type,
        "sequenceAccountId": str(who.account_id),
        "eventTimestamp": ts(e.event_timestamp),
        "total": e.total,
    }


def _events_list(body: Any) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise field_error("events", "invalidType", 'the body must be {"events": [...]}')
    events = body["events"]
    limit = get_settings().max_batch_events
    if not 1 <= len(events) <= limit:
        raise field_error("events", "outOfRange", f"a batch holds 1 to {limit} events")
    return events


def _batch_response(items: list[dict[str, Any]], failures: list[dict[str, Any]], key: str) -> tuple[int, Any]:
    if not items:
        errors = [FieldError(e["code"], e["message"], e["key"]) for f in failures for e in f["errors"]]
        raise validation_error(errors)
    return (201 if not failures else 207), {"items": items, "errors": failures}


# --- usage events ---------------------------------------------------------------------------------------------


@router.post("/usage-events", status_code=201)
def create_usage_event(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    received = real_now()
    errors: list[FieldError] = []
    event = ingest.usage_event(parse_json(raw), "", errors, received)
    if errors or event is None:
        raise validation_error(errors)

    def action(s: Session) -> tuple[int, Any]:
        stored = accept_usage(s, who.account_id, [event], received)
        return 201, _new_usage_json(who, stored[0], event)

    return run_mutation(request, who, raw, action)


def _store_usage_batch(
    request: Request,
    who: Caller,
    raw: bytes,
    elements: list[Any],
    parse: Callable[[Any, str, list[FieldError]], Any],
    position_key: str,
    positions: list[int] | None = None,
) -> Response:
    valid, failures = ingest.batch(elements, parse)
    if positions is not None:  # CSV: report file lines instead of indexes
        for failure in failures:
            failure[position_key] = positions[failure.pop("index")]

    def action(s: Session) -> tuple[int, Any]:
        events = [e for _, e in valid]
        stored = accept_usage(s, who.account_id, events, real_now())
        items = []
        for (index, event), row in zip(valid, stored, strict=True):
            position = positions[index] if positions is not None else index
            items.append({**_new_usage_json(who, row, event), position_key: position})
        return _batch_response(items, failures, position_key)

    return run_mutation(request, who, raw, action)


@router.post("/usage-events/batch")
def create_usage_batch(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    received = real_now()
    elements = _events_list(parse_json(raw))
    return _store_usage_batch(
        request,
        who,
        raw,
        elements,
        lambda body, path, errors: ingest.usage_event(body, path, errors, received),
        "index",
    )


@router.post("/usage-events/csv")
async def create_usage_csv(request: Request, who: Caller = Depends(caller)) -> Response:
    """CSV upload: ``customerAlias, eventType, eventTimestamp[, customerEventId]`` plus property columns."""
    raw = await request.body()
    if len(raw) > csv_upload.MAX_CSV_BYTES:
        raise field_error("file", "tooLong", "a CSV upload is at most 10 MiB")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form()
        except StarletteHTTPException as exc:  # Starlette's answer to a body that is not multipart
            raise field_error("file", "invalidFormat", "the multipart body cannot be parsed") from exc
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise field_error("file", "required", "multipart uploads carry the CSV in the field 'file'")
        data = await upload.read()
    else:
        data = raw
    rows = csv_upload.read_csv(data)
    received = real_now()
    return await _run_sync(
        lambda: _store_usage_batch(
            request,
            who,
            raw,
            rows.elements,
            lambda body, path, errors: ingest.usage_event(body, path, errors, received),
            "row",
            rows.lines,
        )
    )


async def _run_sync(fn: Callable[[], Response]) -> Response:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn)


@router.get("/usage-events")
def list_usage_events(request: Request, who: Caller = Depends(caller)) -> Response:
    query = Query(request)
    page = page_params(query)
    stmt = select(UsageEvent).where(UsageEvent.account_id == who.account_id)
    for name, column in (
        ("customerAlias", UsageEvent.customer_alias),
        ("eventType", UsageEvent.event_type),
        ("customerEventId", UsageEvent.customer_event_id),
    ):
        if query.get(name) is not None:
            stmt = stmt.where(column == query.get(name))
    before, after = query.timestamp("eventTimestampBefore"), query.timestamp("eventTimestampAfter")
    if before is not None:
        stmt = stmt.where(UsageEvent.event_timestamp < before)
    if after is not None:
        stmt = stmt.where(UsageEvent.event_timestamp > after)
    if query.boolean("unmappedAliasesOnly"):
        mapped = select(CustomerAlias.value).where(
            CustomerAlias.account_id == who.account_id, CustomerAlias.deleted_at.is_(None)
        )
        ids = select(Customer.id.cast(UsageEvent.customer_alias.type)).where(Customer.account_id == who.account_id)
        stmt = stmt.where(UsageEvent.customer_alias.not_in(mapped), UsageEvent.customer_alias.not_in(ids))
    query.raise_if_errors()
    return list_page(page, stmt, UsageEvent.ingest_seq, UsageEvent.id, usage_event_json)


@router.get("/usage-events/{event_id}")
def get_usage_event(event_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        event = owned(s, UsageEvent, who.account_id, event_id)
        if event is None:
            raise not_found("usage event")
        return JSONResponse(usage_event_json(event))


@router.get("/usage-metrics/{metric_id}/calculate")
def calculate_metric(metric_id: str, request: Request, who: Caller = Depends(caller)) -> Response:
    """The metric over the given aliases and inclusive dates, through the billing aggregation (SPEC §2.5)."""
    from billrun.billing.loading import metric_json
    from billrun.domain.inputs import metric_from_json

    query = Query(request)
    aliases = [a for a in (query.get("customerAliases") or "").split(",") if a]
    start, end = query.date("periodStart"), query.date("periodEnd")
    if not aliases:
        query.errors.append(FieldError("required", "customerAliases is required", "customerAliases"))
    if start is None and not query.errors:
        query.errors.append(FieldError("required", "periodStart is required", "periodStart"))
    if end is None and not query.errors:
        query.errors.append(FieldError("required", "periodEnd is required", "periodEnd"))
    if start and end and end < start:
        query.errors.append(FieldError("outOfRange", "periodEnd must not be before periodStart", "periodEnd"))
    query.raise_if_errors()
    assert start is not None and end is not None
    with unit_of_work() as s:
        metric = owned(s, UsageMetric, who.account_id, metric_id)
        if metric is None or metric.deleted_at is not None:
            raise not_found("usage metric")
        spec = metric_from_json(str(metric.id), metric_json(metric))
        value = usage_repo.aggregate(s, who.account_id, spec, aliases, DateRange(start, end), with_ids=True)
        ids = sorted(value.event_ids)
    return JSONResponse(
        {
            "name": metric.name,
            "metricType": metric.metric_type,
            "eventType": metric.event_type,
            "aggregationType": metric.aggregation_type,
            "eventCount": value.event_count,
            "value": value.value,
            "unit": metric.unit,
            "minEventId": ids[0] if ids else None,
            "maxEventId": ids[-1] if ids else None,
        }
    )


# --- seat events ----------------------------------------------------------------------------------------------


@router.post("/seat-events", status_code=201)
def create_seat_event(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    body = parse_json(raw)

    def action(s: Session) -> tuple[int, Any]:
        errors: list[FieldError] = []
        event = ingest.seat_event(body, "", errors, catalog.seat_types(s, who.account_id))
        if errors or event is None:
            raise validation_error(errors)
        stored = accept_seats(s, who.account_id, [event], real_now())
        return 201, _new_seat_json(who, stored[0], event)

    return run_mutation(request, who, raw, action)


@router.post("/seat-events/batch")
def create_seat_batch(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    elements = _events_list(parse_json(raw))

    def action(s: Session) -> tuple[int, Any]:
        types = catalog.seat_types(s, who.account_id)
        valid, failures = ingest.batch(
            elements, lambda body, path, errors: ingest.seat_event(body, path, errors, types)
        )
        events = [e for _, e in valid]
        stored = accept_seats(s, who.account_id, events, real_now())
        items = [
            {**_new_seat_json(who, row, event), "index": index}
            for (index, event), row in zip(valid, stored, strict=True)
        ]
        return _batch_response(items, failures, "index")

    return run_mutation(request, who, raw, action)


@router.get("/seat-events")
def list_seat_events(request: Request, who: Caller = Depends(caller)) -> Response:
    query = Query(request)
    page = page_params(query)
    stmt = select(SeatEvent).where(SeatEvent.account_id == who.account_id)
    for name, column in (("customerAlias", SeatEvent.customer_alias), ("seatType", SeatEvent.seat_type)):
        if query.get(name) is not None:
            stmt = stmt.where(column == query.get(name))
    before, after = query.timestamp("eventTimestampBefore"), query.timestamp("eventTimestampAfter")
    if before is not None:
        stmt = stmt.where(SeatEvent.event_timestamp < before)
    if after is not None:
        stmt = stmt.where(SeatEvent.event_timestamp > after)
    query.raise_if_errors()
    return list_page(page, stmt, SeatEvent.ingest_seq, SeatEvent.id, seat_event_json)


@router.get("/seat-events/{event_id}")
def get_seat_event(event_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        event = owned(s, SeatEvent, who.account_id, event_id)
        if event is None:
            raise not_found("seat event")
        return JSONResponse(seat_event_json(event))


@router.get("/seat-balances")
def seat_balances(request: Request, who: Caller = Depends(caller)) -> Response:
    """Current balances per mapped customer, computed as billing computes them (SPEC §4.7.1)."""
    query = Query(request)
    as_of = query.timestamp("asOf") or real_now()
    exclude_zero = query.boolean("excludeZeroQuantity")
    wanted = [a for a in (query.get("customerAliases") or "").split(",") if a]
    query.raise_if_errors()
    with unit_of_work() as s:
        found = balances.seat_balances(s, who.account_id, as_of, wanted, exclude_zero)
        items = [
            {
                "id": str(entry.customer.id),
                "sequenceAccountId": str(entry.customer.account_id),
                "legalName": entry.customer.legal_name,
                "customerAliases": entry.aliases,
                "total": entry.total,
                "changeTimestamp": ts(entry.changed_at),
                "balances": [
                    {"seatType": b.seat_type, "total": b.total, "changeTimestamp": ts(b.changed_at)}
                    for b in entry.balances
                ],
            }
            for entry in found
        ]
    return all_items(items)
