"""A customer's contacts, kept on the customer row (SPEC §2.8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from billrun.api.errors import not_found
from billrun.api.http import (
    Caller,
    Query,
    caller,
    parse_json,
    raw_body,
    run_mutation,
)
from billrun.api.listing import all_items
from billrun.api.routers.customers import contact_fields, contact_json
from billrun.billing.clock import real_now
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import Customer
from billrun.validation import Fields
from billrun.views.serialize import ts

router = APIRouter()


def _contact_action(
    request: Request,
    raw: bytes,
    who: Caller,
    customer_id: str,
    change: Callable[[Customer, list[dict[str, Any]], Fields], dict[str, Any]],
    status: int = 200,
) -> Response:
    """Read-modify-write of a customer's contacts under its row lock; ``change`` edits the list and returns
    the contact to answer with."""
    body = parse_json(raw) if raw.strip() else {}

    def action(s: Session) -> tuple[int, Any]:
        customer = owned(s, Customer, who.account_id, customer_id, lock=True)
        if customer is None:
            raise not_found("customer")
        v = Fields(body)
        contacts = [dict(c) for c in customer.contacts]
        contact = change(customer, contacts, v)
        live_primaries = [c for c in contacts if c.get("billingPreference") == "PRIMARY" and not c.get("archivedAt")]
        if len(live_primaries) > 1:
            v.error("billingPreference", "conflictingFields", "the customer already has a PRIMARY contact")
        v.raise_if_errors()
        customer.contacts = contacts
        customer.updated_at = real_now()
        return status, contact_json(customer, contact)

    return run_mutation(request, who, raw, action)


def _find_contact(contacts: list[dict[str, Any]], contact_id: str) -> dict[str, Any]:
    found = next((c for c in contacts if c.get("id") == contact_id), None)
    if found is None:
        raise not_found("contact")
    return found


@router.get("/customers/{customer_id}/contacts")
def list_contacts(customer_id: str, request: Request, who: Caller = Depends(caller)) -> Response:
    query = Query(request)
    archived = query.boolean("includeArchived")
    query.raise_if_errors()
    with unit_of_work() as s:
        customer = owned(s, Customer, who.account_id, customer_id)
        if customer is None:
            raise not_found("customer")
        items = [contact_json(customer, c) for c in customer.contacts if archived or not c.get("archivedAt")]
    return all_items(items)


@router.post("/customers/{customer_id}/contacts", status_code=201)
def create_contact(
    customer_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def change(customer: Customer, contacts: list[dict[str, Any]], v: Fields) -> dict[str, Any]:
        contact = contact_fields(v, ts(real_now()))
        if contact["email"] is None:
            v.error("email", "required", "email is required")
        contacts.append(contact)
        return contact

    return _contact_action(request, raw, who, customer_id, change, status=201)


@router.put("/customers/{customer_id}/contacts/{contact_id}")
def update_contact(
    customer_id: str,
    contact_id: str,
    request: Request,
    raw: bytes = Depends(raw_body),
    who: Caller = Depends(caller),
) -> Response:
    def change(customer: Customer, contacts: list[dict[str, Any]], v: Fields) -> dict[str, Any]:
        contact = _find_contact(contacts, contact_id)
        for key in ("name", "email", "phone"):
            if key in v.body:
                contact[key] = v.string(key, required=key == "email")
        if "billingPreference" in v.body:
            contact["billingPreference"] = v.enum("billingPreference", ["PRIMARY", "STANDARD", "NONE"])
        contact["updatedAt"] = ts(real_now())
        return contact

    return _contact_action(request, raw, who, customer_id, change)


@router.post("/customers/{customer_id}/contacts/{contact_id}/archive")
def archive_contact(
    customer_id: str,
    contact_id: str,
    request: Request,
    raw: bytes = Depends(raw_body),
    who: Caller = Depends(caller),
) -> Response:
    def change(customer: Customer, contacts: list[dict[str, Any]], v: Fields) -> dict[str, Any]:
        contact = _find_contact(contacts, contact_id)
        contact["archivedAt"] = contact.get("archivedAt") or ts(real_now())
        contact["updatedAt"] = ts(real_now())
        return contact

    return _contact_action(request, raw, who, customer_id, change)
