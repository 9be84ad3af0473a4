"""Products, seat metrics, usage metrics and prices (SPEC §2.2-§2.5)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billrun.api.errors import ApiError, FieldError, conflict, not_found, validation_error
from billrun.api.http import Caller, JSONResponse, Query, caller, page_params, parse_json, raw_body, run_mutation
from billrun.api.listing import list_page
from billrun.api.price_input import PRICE_STATUSES, PriceInput
from billrun.api.serialize import integration_ids as integration_ids_json
from billrun.api.serialize import present, ts
from billrun.domain.statuses import CatalogStatus
from billrun.store import catalog
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import Price, Product, SeatMetric, UsageMetric
from billrun.validation import Fields, integration_ids

router = APIRouter()
SEAT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- products -------------------------------------------------------------------------------------------------


def product_json(p: Product) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "name": p.name,
        "label": p.label,
        "createdAt": ts(p.created_at),
        "updatedAt": ts(p.updated_at),
        "archivedAt": ts(p.archived_at),
    }


@router.post("/products", status_code=201)
def create_product(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    v = Fields(parse_json(raw))
    name, label = v.string("name"), v.string("label", required=False)
    v.raise_if_errors()

    def action(s: Session) -> tuple[int, Any]:
        product = Product(account_id=who.account_id, name=name, label=label, created_at=now(), updated_at=now())
        s.add(product)
        s.flush()
        return 201, product_json(product)

    return run_mutation(request, who, raw, action)


@router.get("/products")
def list_products(request: Request, who: Caller = Depends(caller)) -> Response:
    page = page_params(Query(request))
    return list_page(
        page, select(Product).where(Product.account_id == who.account_id), Product.created_at, Product.id, product_json
    )


@router.get("/products/{product_id}")
def get_product(product_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        product = owned(s, Product, who.account_id, product_id)
        if product is None:
            raise not_found("product")
        return JSONResponse(product_json(product))


@router.put("/products/{product_id}")
def update_product(
    product_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    v = Fields(parse_json(raw))
    name = v.string("name", required=False)
    label = v.string("label", required=False)
    v.raise_if_errors()

    def action(s: Session) -> tuple[int, Any]:
        product = owned(s, Product, who.account_id, product_id, lock=True)
        if product is None:
            raise not_found("product")
        if name is not None:
            product.name = name
        if "label" in v.body:
            product.label = label
        product.updated_at = now()
        return 200, product_json(product)

    return run_mutation(request, who, raw, action)


@router.post("/products/{product_id}/archive")
def archive_product(
    product_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        product = owned(s, Product, who.account_id, product_id, lock=True)
        if product is None:
            raise not_found("product")
        product.archived_at = product.archived_at or now()
        product.updated_at = now()
        return 200, product_json(product)

    return run_mutation(request, who, raw, action)


# --- seat metrics ---------------------------------------------------------------------------------------------


def seat_metric_json(m: SeatMetric) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "seatType": m.seat_type,
        "label": m.label,
        "description": m.description,
        "createdBy": None,
        "createdAt": ts(m.created_at),
        "updatedAt": ts(m.updated_at),
    }


@router.post("/seat-metrics", status_code=201)
def create_seat_metric(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    v = Fields(parse_json(raw))
    seat_type = v.string("seatType", max_len=64, pattern=SEAT_TYPE, pattern_hint="lower snake_case")
    label = v.string("label")
    description = v.string("description", required=False, max_len=4000)
    v.raise_if_errors()

    def action(s: Session) -> tuple[int, Any]:
        metric = SeatMetric(
            account_id=who.account_id,
            seat_type=seat_type,
            label=label,
            description=description,
            created_at=now(),
            updated_at=now(),
        )
        try:
            with s.begin_nested():
                s.add(metric)
                s.flush()
        except IntegrityError as exc:
            raise conflict(f"seatType {seat_type!r} already exists", key="seatType") from exc
        return 201, seat_metric_json(metric)

    return run_mutation(request, who, raw, action)


@router.get("/seat-metrics")
def list_seat_metrics(request: Request, who: Caller = Depends(caller)) -> Response:
    page = page_params(Query(request))
    return list_page(
        page,
        select(SeatMetric).where(SeatMetric.account_id == who.account_id),
        SeatMetric.created_at,
        SeatMetric.id,
        seat_metric_json,
    )


@router.get("/seat-metrics/{metric_id}")
def get_seat_metric(metric_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        metric = owned(s, SeatMetric, who.account_id, metric_id)
        if metric is None:
            raise not_found("seat metric")
        return JSONResponse(seat_metric_json(metric))


@router.put("/seat-metrics/{metric_id}")
def update_seat_metric(
    metric_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    v = Fields(parse_json(raw))
    label = v.string("label", required=False)
    description = v.string("description", required=False, max_len=4000)
    if "seatType" in v.body:
        v.error("seatType", "immutable", "seatType cannot be changed")
    v.raise_if_errors()

    def action(s: Session) -> tuple[int, Any]:
        metric = owned(s, SeatMetric, who.account_id, metric_id, lock=True)
        if metric is None:
            raise not_found("seat metric")
        if label is not None:
            metric.label = label
        if "description" in v.body:
            metric.description = description
        metric.updated_at = now()
        return 200, seat_metric_json(metric)

    return run_mutation(request, who, raw, action)


@router.delete("/seat-metrics/{metric_id}")
def delete_seat_metric(
    metric_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        metric = owned(s, SeatMetric, who.account_id, metric_id, lock=True)
        if metric is None:
            raise not_found("seat metric")
        if catalog.seat_metric_in_use(s, who.account_id, str(metric.id)):
            raise conflict("a price charges for this seat metric; delete or replace the price first", "inUse")
        deleted = seat_metric_json(metric)
        s.delete(metric)
        return 200, deleted

    return run_mutation(request, who, raw, action)


# --- usage metrics --------------------------------------------------------------------------------------------


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
        metric = UsageMetric(account_id=who.account_id, created_at=now(), updated_at=now(), **fields)
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
        metric.updated_at = now()
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
        metric.deleted_at = now()
        return 200, usage_metric_json(metric)

    return run_mutation(request, who, raw, action)


# --- prices ---------------------------------------------------------------------------------------------------


def price_json(p: Price) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "sequenceAccountId": str(p.account_id),
        "productId": str(p.product_id),
        "name": p.name,
        "currency": p.currency,
        "structure": _structure_json(p.structure),
        "billingFrequency": p.billing_frequency,
        "billingType": p.billing_type,
        "createdAt": ts(p.created_at),
        "updatedAt": ts(p.updated_at),
        "integrationIds": integration_ids_json(p.integration_ids),
        "customMetricParameters": p.sequence_fields.get("customMetricParameters", []),
        "listPriceId": p.list_price_id,
        "usageCalculationPeriod": p.usage_calculation_period,
        "status": p.sequence_fields.get("status", CatalogStatus.ACTIVE),
    }


def _structure_json(structure: dict[str, Any]) -> dict[str, Any]:
    """Overages billed with the price's own frequency are Sequence's ``NONE`` (billrun stores null)."""
    if structure.get("pricingType") == "SEAT_BASED" and structure.get("overagesBillingFrequency") is None:
        return {**structure, "overagesBillingFrequency": "NONE"}
    return structure


@router.post("/prices", status_code=201)
def create_price(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    body = parse_json(raw)

    def action(s: Session) -> tuple[int, Any]:
        parsed = PriceInput(s, who.account_id, body)
        parsed.v.raise_if_errors()
        price = Price(
            account_id=who.account_id,
            product_id=parsed.product_id,
            name=parsed.name,
            currency=parsed.currency,
            structure=parsed.structure,
            billing_frequency=parsed.billing_frequency,
            billing_type=parsed.billing_type,
            integration_ids=parsed.integration_ids,
            list_price_id=parsed.list_price_id,
            sequence_fields=parsed.sequence_fields,
            usage_calculation_period=parsed.usage_calculation_period,
            created_at=now(),
            updated_at=now(),
        )
        s.add(price)
        s.flush()
        return 201, price_json(price)

    return run_mutation(request, who, raw, action)


@router.get("/prices")
def list_prices(request: Request, who: Caller = Depends(caller)) -> Response:
    query = Query(request)
    page = page_params(query)
    stmt = select(Price).where(Price.account_id == who.account_id)
    product = query.uuid("productId")
    if product is not None:
        stmt = stmt.where(Price.product_id == product) if product else stmt.where(Price.id.is_(None))
    return list_page(page, stmt, Price.created_at, Price.id, price_json)


@router.get("/prices/{price_id}")
def get_price(price_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        price = owned(s, Price, who.account_id, price_id)
        if price is None:
            raise not_found("price")
        return JSONResponse(price_json(price))


#: What PUT /prices may change; billing reads none of it. The rest of a price is fixed once created, because
#: schedules and issued invoices were billed from it.
_PRICE_MUTABLE = ("name", "status", "integrationIds", "customMetricParameters", "listPriceId")
_PRICE_READ_ONLY = ("id", "sequenceAccountId", "createdAt", "updatedAt")


@router.put("/prices/{price_id}")
def update_price(
    price_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    """A partial update, or the whole object as GET served it: fields equal to the stored ones are accepted
    whatever they are; a changed field that may not change is refused by name."""
    v = Fields(parse_json(raw))
    v.legacy("externalIds", "integrationIds")
    name = v.string("name", required=False)
    status = v.enum("status", PRICE_STATUSES, required=False)
    integrations = integration_ids(v) if "integrationIds" in v.body else None
    list_price_id = v.string("listPriceId", required=False)
    inert: dict[str, Any] = {}
    v.inert(inert, {"customMetricParameters": list})
    v.raise_if_errors()

    def action(s: Session) -> tuple[int, Any]:
        price = owned(s, Price, who.account_id, price_id, lock=True)
        if price is None:
            raise not_found("price")
        served = present(price_json(price))
        changed = [
            FieldError("immutable", f"{key} cannot be changed; only {', '.join(_PRICE_MUTABLE)} can", key)
            for key, value in v.body.items()
            if key not in _PRICE_MUTABLE + _PRICE_READ_ONLY and key in served and present(value) != served[key]
        ]
        if changed:
            raise validation_error(changed)
        price.name = name or price.name
        price.sequence_fields = {**price.sequence_fields, **inert, **({"status": status} if status else {})}
        if integrations is not None:
            price.integration_ids = integrations
        if "listPriceId" in v.body:
            price.list_price_id = list_price_id
        price.updated_at = now()
        return 200, price_json(price)

    return run_mutation(request, who, raw, action)


@router.delete("/prices/{price_id}")
def delete_price(
    price_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        price = owned(s, Price, who.account_id, price_id, lock=True)
        if price is None:
            raise not_found("price")
        if catalog.price_in_use(s, who.account_id, str(price.id)):
            raise ApiError(
                409,
                "conflict",
                "a billing schedule phase references this price",
                [FieldError("inUse", "a billing schedule phase references this price", "")],
            )
        deleted = price_json(price)
        s.delete(price)
        return 200, deleted

    return run_mutation(request, who, raw, action)
