"""Customers (SPEC §2.8)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from billrun.api.errors import FieldError, conflict, not_found
from billrun.api.http import (
    Caller,
    JSONResponse,
    Query,
    caller,
    page_params,
    parse_json,
    raw_body,
    run_mutation,
    served_version,
)
from billrun.api.listing import list_page
from billrun.billing import customers
from billrun.billing.clock import real_now
from billrun.billing.invoicing import customer_emails
from billrun.domain.statuses import CatalogStatus
from billrun.store import customers as repo
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import Customer
from billrun.validation import Fields, address, integration_ids
from billrun.views.serialize import ident, ts
from billrun.views.serialize import integration_ids as integration_ids_json

router = APIRouter()
TAX_STATUSES = ["TAXED", "TAX_EXEMPT", "REVERSE_CHARGED"]
MAX_DEPTH = 5


def customer_json(c: Customer, aliases: list[str]) -> dict[str, Any]:
    body = _customer_body(c, aliases)
    if served_version.get() < "2024-07-30":
        return _legacy_contacts(body)
    return body


def _legacy_contacts(body: dict[str, Any]) -> dict[str, Any]:
    """The customer as versions before 2024-07-30 shaped it: the primary contact's ``contactName``, ``email``
    and ``telephone``, and ``billingEmails``, instead of ``contacts`` (SPEC §3.2)."""
    contacts = body.pop("contacts") or []
    return {**body, **_legacy_contact_fields(contacts)}


def _legacy_contact_fields(contacts: list[dict[str, Any]]) -> dict[str, Any]:
    primary = next((c for c in contacts if c.get("billingPreference") == "PRIMARY"), contacts[0] if contacts else {})
    return {
        "contactName": primary.get("name") or "",
        "email": primary.get("email") or "",
        "telephone": primary.get("phone") or "",
        "billingEmails": customer_emails(contacts),
    }


def _customer_body(c: Customer, aliases: list[str]) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "sequenceAccountId": str(c.account_id),
        "createdAt": ts(c.created_at),
        "updatedAt": ts(c.updated_at),
        "archivedAt": ts(c.archived_at),
        "legalName": c.legal_name,
        "address": c.address,
        "contacts": [contact_json(c, contact) for contact in c.contacts],
        "url": c.url,
        "domain": c.domain,
        "label": c.label,
        "taxStatus": c.tax_status,
        "integrationIds": integration_ids_json(c.integration_ids),
        "customerAliases": aliases,
        "parentId": ident(c.parent_id),
        # Sequence's organisations group customers for consolidated billing (SPEC §9): billrun has none.
        "organizations": [],
        "status": c.sequence_fields.get("status", CatalogStatus.ACTIVE),
        "customProperties": c.sequence_fields.get("customProperties", {}),
    }


def contact_json(c: Customer, contact: dict[str, Any]) -> dict[str, Any]:
    """A contact as Sequence serves it. Contacts made before contacts had timestamps carry the customer's; a
    contact made from seed-era fields may have no name or email, served as empty strings (both required)."""
    return {
        **contact,
        "name": contact.get("name") or "",
        "email": contact.get("email") or "",
        "createdAt": contact.get("createdAt") or ts(c.created_at),
        "updatedAt": contact.get("updatedAt") or ts(c.updated_at),
    }


def _map_legacy(v: Fields) -> None:
    """Seed-era contact fields -> contacts (SPEC §2.0)."""
    v.legacy("externalIds", "integrationIds")
    if v.raw("taxStatus") == "EXEMPT":
        v.body["taxStatus"] = "TAX_EXEMPT"
    legacy = [k for k in ("contactName", "email", "billingEmails", "telephone") if k in v.body]
    if not legacy:
        return
    contacts = list(v.raw("contacts") or [])
    email = v.body.pop("email", None)
    name = v.body.pop("contactName", None)
    phone = v.body.pop("telephone", None)
    if email is not None or name is not None or phone is not None:
        contacts.append({"name": name, "email": email, "phone": phone, "billingPreference": "PRIMARY"})
    for extra in v.body.pop("billingEmails", None) or []:
        if extra != email:
            contacts.append({"name": None, "email": extra, "billingPreference": "STANDARD"})
    v.body["contacts"] = contacts


def _sequence_fields(v: Fields, stored: dict[str, Any]) -> dict[str, Any]:
    """The customer's Sequence fields billrun keeps but does not act on (SPEC §9): its status, custom
    properties and the integrations to push to."""
    fields = dict(stored)
    v.inert(fields, {"customProperties": dict, "pushToIntegrations": list})
    if "status" in v.body:
        fields["status"] = v.enum("status", list(CatalogStatus))
    return fields


def contact_fields(c: Fields, stamp: str) -> dict[str, Any]:
    """One contact of a request, new (``stamp`` is its creation and update time)."""
    return {
        "id": str(uuid.uuid4()),
        "name": c.string("name", required=False),
        "email": c.string("email", required=False),
        "phone": c.string("phone", required=False),
        "billingPreference": c.enum(
            "billingPreference", ["PRIMARY", "STANDARD", "NONE"], required=False, default="STANDARD"
        ),
        "createdAt": stamp,
        "updatedAt": stamp,
    }


def _keep_identity(stored: list[dict[str, Any]], given: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A customer update's contacts: one with the email of a stored contact is that contact (its id and creation
    time stay, so ``/contacts/{id}`` keeps naming it); the others are new."""
    by_email = {c["email"]: c for c in stored if c.get("email")}
    kept = []
    for contact in given:
        before = by_email.pop(contact["email"], None) if contact.get("email") else None
        kept.append({**contact, "id": before["id"], "createdAt": before.get("createdAt")} if before else contact)
    return kept


def _contacts(v: Fields) -> list[dict[str, Any]]:
    stamp = ts(real_now())
    contacts = [contact_fields(Fields(e, path, v.errors), stamp) for path, e in v.items("contacts", required=False)]
    if sum(1 for c in contacts if c["billingPreference"] == "PRIMARY") > 1:
        v.error("contacts", "outOfRange", "at most one contact may be PRIMARY")
    return contacts


def _check_parent(s: Session, who: Caller, v: Fields, customer_id: uuid.UUID | None) -> uuid.UUID | None:
    raw = v.raw("parentId")
    if raw is None:
        return None
    parent = owned(s, Customer, who.account_id, raw)
    if parent is None:
        v.error("parentId", "unknownReference", "parentId does not name a customer of this account")
        return None
    chain = repo.ancestors(s, parent.id)
    if customer_id is not None and (parent.id == customer_id or customer_id in chain):
        v.error("parentId", "outOfRange", "parentId would create a cycle")
    elif len(chain) + 1 >= MAX_DEPTH:
        v.error("parentId", "outOfRange", f"customer hierarchies are at most {MAX_DEPTH} levels deep")
    return parent.id


def check_alias(s: Session, who: Caller, value: str, key: str, errors: list[FieldError]) -> None:
    if value == "VOID":
        errors.append(FieldError("outOfRange", "VOID is reserved and cannot be an alias", key))
    elif repo.is_customer_id(s, who.account_id, value):
        errors.append(FieldError("outOfRange", "an alias cannot equal a customer id", key))


@router.post("/customers", status_code=201)
def create_customer(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    body = parse_json(raw)

    def action(s: Session) -> tuple[int, Any]:
        v = Fields(body)
        _map_legacy(v)
        legal_name = v.string("legalName")
        postal = address(v, "address", required=True)
        contacts = _contacts(v)
        tax_status = v.enum("taxStatus", TAX_STATUSES, required=False, default="TAXED")
        integrations = integration_ids(v)
        sequence_fields = _sequence_fields(v, {})
        aliases = v.string_list("customerAliases")
        parent_id = _check_parent(s, who, v, None)
        fields = {
            "url": v.string("url", required=False, max_len=2048),
            "domain": v.string("domain", required=False),
            "label": v.string("label", required=False),
        }
        for i, alias in enumerate(aliases):
            check_alias(s, who, alias, f"customerAliases[{i}]", v.errors)
        v.raise_if_errors()
        customer = Customer(
            account_id=who.account_id,
            legal_name=legal_name,
            address=postal,
            contacts=contacts,
            tax_status=tax_status,
            integration_ids=integrations,
            sequence_fields=sequence_fields,
            parent_id=parent_id,
            created_at=real_now(),
            updated_at=real_now(),
            **fields,
        )
        s.add(customer)
        s.flush()
        for alias in aliases:
            if not repo.add_alias(s, who.account_id, customer.id, alias, None):
                raise conflict(f"alias {alias!r} is already in use", key="customerAliases")
        return 201, customer_json(customer, repo.alias_values(s, customer.id))

    return run_mutation(request, who, raw, action)


@router.get("/customers")
def list_customers(request: Request, who: Caller = Depends(caller)) -> Response:
    page = page_params(Query(request))
    stmt = select(Customer).where(Customer.account_id == who.account_id)
    return list_page(page, stmt, Customer.created_at, Customer.id, serialize_rows=_serialize_with_aliases)


def _serialize_with_aliases(s: Session, rows: list[Customer]) -> list[dict[str, Any]]:
    aliases = repo.alias_values_many(s, [c.id for c in rows])
    return [customer_json(c, aliases[c.id]) for c in rows]


@router.get("/customers/by-alias/{alias}")
def get_customer_by_alias(alias: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        customer = repo.by_alias(s, who.account_id, alias)
        if customer is None:
            raise not_found("customer")
        body = customer_json(customer, repo.alias_values(s, customer.id))
        # Sequence's 2024-07-30 spec still serves this lookup in the earlier shape, its contact fields
        # required: both shapes at once satisfy a client of either.
        if "contacts" in body:  # served in 2024-07-30's shape, which lacks them
            body |= _legacy_contact_fields(body["contacts"])
        return JSONResponse(body)


@router.get("/customers/{customer_id}")
def get_customer(customer_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        customer = owned(s, Customer, who.account_id, customer_id)
        if customer is None:
            raise not_found("customer")
        return JSONResponse(customer_json(customer, repo.alias_values(s, customer.id)))


@router.put("/customers/{customer_id}")
def update_customer(
    customer_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    body = parse_json(raw)

    def action(s: Session) -> tuple[int, Any]:
        customer = owned(s, Customer, who.account_id, customer_id, lock=True)
        if customer is None:
            raise not_found("customer")
        v = Fields(body)
        _map_legacy(v)
        if "legalName" in v.body:
            customer.legal_name = v.string("legalName") or customer.legal_name
        if "address" in v.body:
            customer.address = address(v, "address", required=True) or customer.address
        if "contacts" in v.body:
            customer.contacts = _keep_identity(customer.contacts, _contacts(v))
        tax_status = v.enum("taxStatus", TAX_STATUSES) if "taxStatus" in v.body else None
        if "integrationIds" in v.body:
            customer.integration_ids = integration_ids(v)
        for key, column in (("url", "url"), ("domain", "domain"), ("label", "label")):
            if key in v.body:
                setattr(customer, column, v.string(key, required=False, max_len=2048))
        if "parentId" in v.body:
            customer.parent_id = _check_parent(s, who, v, customer.id)
        customer.sequence_fields = _sequence_fields(v, customer.sequence_fields)
        v.raise_if_errors()
        if tax_status is not None:
            customers.set_tax_status(s, customer, tax_status)
        customer.updated_at = real_now()
        return 200, customer_json(customer, repo.alias_values(s, customer.id))

    return run_mutation(request, who, raw, action)


@router.post("/customers/{customer_id}/archive")
def archive_customer(
    customer_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        customer = owned(s, Customer, who.account_id, customer_id, lock=True)
        if customer is None:
            raise not_found("customer")
        customer.archived_at = customer.archived_at or real_now()
        customer.updated_at = real_now()
        return 200, customer_json(customer, repo.alias_values(s, customer.id))

    return run_mutation(request, who, raw, action)
