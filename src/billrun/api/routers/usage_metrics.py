"""Usage metrics (SPEC §2.4)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billrun.api.errors import conflict, not_found
from billrun.api.http import Caller, JSONResponse, Query, caller, page_params, parse_json, raw_body, run_mutation
from billrun.api.listing import list_page
from billrun.billing.clock import real_now
from billrun.store import catalog
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import UsageMetric
from billrun.validation import Fields
from billrun.views.serialize import ts

router = APIRouter()


def usage_metric_json(m: UsageMetric) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "sequenceAccountId": str(m.account_id),
        "name": m.name,
        "description": m.description,
        "metricType": m.metric_type,
        "eventType": m.event_type,
        "unit": m.unit,
        "aggregationType": m.aggregation_type,
        "aggregationProperty": m.aggregation_property,
        "groupingProperty": m.grouping_property,
        "propertyFilters": m.property_filters,
        "caseSensitive": m.case_sensitive,
        "propertiesToNegate": m.properties_to_negate,
        "parameters": [],
        "createdAt": ts(m.created_at),
        "updatedAt": ts(m.updated_at),
        "deletedAt": ts(m.deleted_at),
    }


def _metric_fields(v: Fields, partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    required = not partial
    if not partial or "name" in v.body:
        out["name"] = v.string("name", required=required)
    if not partial or "description" in v.body:
        out["description"] = v.string("description", required=False, max_len=4000)
    if not partial or "metricType" in v.body:
        out["metric_type"] = v.enum("metricType", ["SIMPLE", "GROUPED"], required=required)
    if not partial or "eventType" in v.body:
        out["event_type"] = v.string("eventType", required=required)
    if not partial or "unit" in v.body:
        out["unit"] = v.string("unit", required=False)
    if v.raw("aggregationType") == "CUSTOM":
        v.error("aggregationType", "unsupported", "CUSTOM metrics are not supported in billrun v1")
    elif not partial or "aggregationType" in v.body:
        out["aggregation_type"] = v.enum("aggregationType", ["COUNT", "UNIQUE", "SUM", "MAX"], required=required)
    aggregation = out.get("aggregation_type")
    if not partial or "aggregationProperty" in v.body:
        out["aggregation_property"] = v.string("aggregationProperty", required=aggregation in ("UNIQUE", "SUM", "MAX"))
    if not partial or "groupingProperty" in v.body:
        out["grouping_property"] = v.string("groupingProperty", required=False)
        if out["grouping_property"] and out.get("metric_type") == "SIMPLE":
            v.error("groupingProperty", "unsupported", "groupingProperty is only for GROUPED metrics")
    if not partial or "propertyFilters" in v.body:
        filters = v.raw("propertyFilters") or {}
        out["property_filters"] = {}
        if not isinstance(filters, dict):
            v.error("propertyFilters", "invalidType", "propertyFilters must be an object of string arrays")
        else:
            for prop, values in filters.items():
                if not isinstance(values, list) or not values or not all(isinstance(x, str) for x in values):
                    v.error(f"propertyFilters.{prop}", "invalidType", "each filter is a non-empty array of strings")
                else:
                    out["property_filters"][prop] = values
    if not partial or "caseSensitive" in v.body:
        out["case_sensitive"] = v.boolean("caseSensitive", default=True)
    if not partial or "propertiesToNegate" in v.body:
        negate = v.string_list("propertiesToNegate")
        keys = out.get("property_filters", {})
        for prop in negate:
            if prop not in keys:
                v.error("propertiesToNegate", "unknownReference", f"{prop} is not a filtered property")
        out["properties_to_negate"] = negate
    return out


@router.post("/usage-metrics", status_code=201)
def create_usage_metric(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    v = Fields(parse_json(raw))
    fields = _metric_fields(v, partial=False)
    v.raise_if_errors()

    def action(s: Session) -> tuple[int, Any]:
        metric = UsageMetric(account_id=who.account_id, created_at=real_now(), updated_at=real_now(), **fields)
        try:
            with s.begin_nested():
                s.add(metric)
                s.flush()
        except IntegrityError as exc:
            raise conflict(f"a usage metric named {fields['name']!r} already exists", key="name") from exc
        return 201, usage_metric_json(metric)

    return run_mutation(request, who, raw, action)


@router.get("/usage-metrics")
def list_usage_metrics(request: Request, who: Caller = Depends(caller)) -> Response:
    page = page_params(Query(request))
    stmt = select(UsageMetric).where(UsageMetric.account_id == who.account_id, UsageMetric.deleted_at.is_(None))
    return list_page(page, stmt, UsageMetric.created_at, UsageMetric.id, usage_metric_json)


@router.get("/usage-metrics/{metric_id}")
def get_usage_metric(metric_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        metric = owned(s, UsageMetric, who.account_id, metric_id)
        if metric is None:
            raise not_found("usage metric")
        return JSONResponse(usage_metric_json(metric))


@router.put("/usage-metrics/{metric_id}")
def update_usage_metric(
    metric_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    v = Fields(parse_json(raw))
    fields = _metric_fields(v, partial=True)
    v.raise_if_errors()

    def action(s: Session) -> tuple[int, Any]:
        metric = owned(s, UsageMetric, who.account_id, metric_id, lock=True)
        if metric is None or metric.deleted_at is not None:
            raise not_found("usage metric")
        for key, value in fields.items():
            setattr(metric, key, value)
        metric.updated_at = real_now()
        try:
            with s.begin_nested():
                s.flush()
        except IntegrityError as exc:  # it used to answer 500 (a rename onto another metric's name)
            raise conflict(f"a usage metric named {fields['name']!r} already exists", key="name") from exc
        return 200, usage_metric_json(metric)

    return run_mutation(request, who, raw, action)


@router.delete("/usage-metrics/{metric_id}")
def delete_usage_metric(
    metric_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        metric = owned(s, UsageMetric, who.account_id, metric_id, lock=True)
        if metric is None or metric.deleted_at is not None:
            raise not_found("usage metric")
        if catalog.metric_in_use(s, who.account_id, str(metric.id)):
            raise conflict("a price uses this metric", "inUse")
        metric.deleted_at = real_now()
        return 200, usage_metric_json(metric)

    return run_mutation(request, who, raw, action)
