"""Prices (SPEC §2.5)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from billrun.api.errors import ApiError, FieldError, not_found, validation_error
from billrun.api.http import Caller, JSONResponse, Query, caller, page_params, parse_json, raw_body, run_mutation
from billrun.api.listing import list_page
from billrun.api.price_input import PRICE_STATUSES, PriceInput
from billrun.billing.clock import real_now
from billrun.domain.statuses import CatalogStatus
from billrun.store import catalog
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import Price
from billrun.validation import Fields, integration_ids
from billrun.views.serialize import integration_ids as integration_ids_json
from billrun.views.serialize import present, ts

router = APIRouter()


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
            created_at=real_now(),
            updated_at=real_now(),
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
        price.updated_at = real_now()
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
