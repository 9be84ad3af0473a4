"""Products and seat metrics (SPEC §2.2, §2.3)."""

from __future__ import annotations

import re
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
from billrun.store.models import Product, SeatMetric
from billrun.validation import Fields
from billrun.views.serialize import ts

router = APIRouter()
SEAT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


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
        product = Product(
            account_id=who.account_id, name=name, label=label, created_at=real_now(), updated_at=real_now()
        )
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
        product.updated_at = real_now()
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
        product.archived_at = product.archived_at or real_now()
        product.updated_at = real_now()
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
            created_at=real_now(),
            updated_at=real_now(),
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
        metric.updated_at = real_now()
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
