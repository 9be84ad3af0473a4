"""Customer aliases (SPEC §2.9)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from billrun.api.errors import FieldError, not_found, validation_error
from billrun.api.http import (
    Caller,
    Query,
    caller,
    page_params,
    parse_json,
    raw_body,
    run_mutation,
)
from billrun.api.listing import list_page
from billrun.api.routers.customers import check_alias
from billrun.billing import customers
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import Customer, CustomerAlias
from billrun.validation import Fields
from billrun.views.serialize import ts

router = APIRouter()


def alias_json(a: CustomerAlias) -> dict[str, Any]:
    return {
        "id": str(a.id),
        "sequenceAccountId": str(a.account_id),
        "customerId": str(a.customer_id),
        "value": a.value,
        "label": a.label,
        "createdAt": ts(a.created_at),
        "archivedAt": ts(a.archived_at),
        "deletedAt": ts(a.deleted_at),
    }


@router.get("/customers/{customer_id}/aliases")
def get_customer_aliases(customer_id: str, request: Request, who: Caller = Depends(caller)) -> Response:
    page = page_params(Query(request))
    with unit_of_work() as s:
        customer = owned(s, Customer, who.account_id, customer_id)
        if customer is None:
            raise not_found("customer")
    stmt = select(CustomerAlias).where(
        CustomerAlias.account_id == who.account_id, CustomerAlias.customer_id == customer.id
    )
    return list_page(page, stmt, CustomerAlias.created_at, CustomerAlias.id, alias_json)


@router.post("/customer-aliases", status_code=201)
def create_alias(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    v = Fields(parse_json(raw))
    customer_ref, value = v.string("customerId"), v.string("value")
    label = v.string("label", required=False)
    v.raise_if_errors()

    def action(s: Session) -> tuple[int, Any]:
        customer = owned(s, Customer, who.account_id, customer_ref)
        errors: list[FieldError] = []
        if customer is None:
            errors.append(FieldError("unknownReference", "customerId does not name a customer", "customerId"))
        assert value is not None
        check_alias(s, who, value, "value", errors)
        if errors:
            raise validation_error(errors)
        assert customer is not None
        return 201, alias_json(customers.add_alias(s, customer, value, label))

    return run_mutation(request, who, raw, action)


@router.get("/customer-aliases")
def list_aliases(request: Request, who: Caller = Depends(caller)) -> Response:
    page = page_params(Query(request))
    stmt = select(CustomerAlias).where(CustomerAlias.account_id == who.account_id)
    return list_page(page, stmt, CustomerAlias.created_at, CustomerAlias.id, alias_json)


@router.put("/customer-aliases/{alias_id}")
def update_alias(
    alias_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    v = Fields(parse_json(raw))
    label = v.string("label", required=False)
    if "value" in v.body or "customerId" in v.body:
        v.error("value" if "value" in v.body else "customerId", "immutable", "only label can be changed")
    v.raise_if_errors()

    def action(s: Session) -> tuple[int, Any]:
        alias = owned(s, CustomerAlias, who.account_id, alias_id, lock=True)
        if alias is None:
            raise not_found("customer alias")
        alias.label = label
        return 200, alias_json(alias)

    return run_mutation(request, who, raw, action)


@router.delete("/customer-aliases/{alias_id}")
def delete_alias(
    alias_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        alias = owned(s, CustomerAlias, who.account_id, alias_id, lock=True)
        if alias is None or alias.deleted_at is not None:
            raise not_found("customer alias")
        customers.delete_alias(s, alias)
        return 200, alias_json(alias)

    return run_mutation(request, who, raw, action)
