"""Customers and customer aliases (SPEC §2.8-§2.9)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from billrun.api.errors import FieldError, conflict, not_found, validation_error
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
from billrun.api.serialize import ident, ts
from billrun.billing import recalculation
from billrun.billing.invoicing import customer_emails
from billrun.store import customers as repo
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import Customer, CustomerAlias
from billrun.validation import Fields

router = APIRouter()
TAX_STATUSES = ["TAXED", "TAX_EXEMPT", "REVERSE_CHARGED"]
INTEGRATION_SERVICES = [
    "Amazon_Redshift",
    "Google_BigQuery",
    "Google_Sheets",
    "HubSpot",
    "NetSuite",
    "QuickBooks_Online",
    "Salesforce",
    "Slack",
    "Snowflake",
    "Stripe",
    "Xero",
    "Avalara",
    "Anrok",
]
MAX_DEPTH = 5


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def customer_json(c: Customer, aliases: list[str]) -> dict[str, Any]:
    body = _customer_body(c, aliases)
    if served_version.get() < "2024-07-30":
        return _legacy_contacts(body)
    return body


def _legacy_contacts(body: dict[str, Any]) -> dict[str, Any]:
    """The customer as versions before 2024-07-30 shaped it: the primary contact's ``contactName``, ``email``
    and ``telephone``, and ``billingEmails``, instead of ``contacts`` (SPEC §3.2)."""
    contacts = body.pop("contacts") or []
    primary = next((c for c in contacts if c.get("billingPreference") == "PRIMARY"), contacts[0] if contacts else {})
    return {
        **body,
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
        "contacts": c.contacts,
        "url": c.url,
        "domain": c.domain,
        "label": c.label,
        "taxStatus": c.tax_status,
        "integrationIds": [{**i, "lastSynced": None, "url": None, "isPending": False} for i in c.integration_ids],
        "customerAliases": aliases,
        "parentId": ident(c.parent_id),
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


def _address(v: Fields, required: bool) -> dict[str, Any] | None:
    a = v.child("address", required=required)
    if a is None:
        return None
    out = {
        "line1": a.string("line1"),
        "line2": a.string("line2", required=False),
        "town": a.string("town"),
        "state": None,
        "postcode": a.string("postcode"),
        "country": a.string("country", max_len=2),
    }
    country = out["country"]
    if country is not None and (len(country) != 2 or not country.isalpha() or not country.isupper()):
        a.error("country", "invalidFormat", "country must be an ISO 3166-1 alpha-2 code such as GB")
    out["state"] = a.string("state", required=country == "US")
    return out


def _contacts(v: Fields) -> list[dict[str, Any]]:
    contacts = []
    for path, element in v.items("contacts", required=False):
        c = Fields(element, path, v.errors)
        contacts.append(
            {
                "id": str(uuid.uuid4()),
                "name": c.string("name", required=False),
                "email": c.string("email", required=False),
                "phone": c.string("phone", required=False),
                "billingPreference": c.enum(
                    "billingPreference", ["PRIMARY", "STANDARD", "NONE"], required=False, default="STANDARD"
                ),
            }
        )
    if sum(1 for c in contacts if c["billingPreference"] == "PRIMARY") > 1:
        v.error("contacts", "outOfRange", "at most one contact may be PRIMARY")
    return contacts


def _integration_ids(v: Fields) -> list[dict[str, str]]:
    result = []
    for path, element in v.items("integrationIds", required=False):
        i = Fields(element, path, v.errors)
        service, service_id = i.enum("service", INTEGRATION_SERVICES), i.string("id")
        if service and service_id:
            result.append({"service": service, "id": service_id})
    return result


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


def _check_alias(s: Session, who: Caller, value: str, key: str, errors: list[FieldError]) -> None:
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
        address = _address(v, required=True)
        contacts = _contacts(v)
        tax_status = v.enum("taxStatus", TAX_STATUSES, required=False, default="TAXED")
        integration_ids = _integration_ids(v)
        aliases = v.string_list("customerAliases")
        parent_id = _check_parent(s, who, v, None)
        fields = {
            "url": v.string("url", required=False, max_len=2048),
            "domain": v.string("domain", required=False),
            "label": v.string("label", required=False),
        }
        for i, alias in enumerate(aliases):
            _check_alias(s, who, alias, f"customerAliases[{i}]", v.errors)
        v.raise_if_errors()
        customer = Customer(
            account_id=who.account_id,
            legal_name=legal_name,
            address=address,
            contacts=contacts,
            tax_status=tax_status,
            integration_ids=integration_ids,
            parent_id=parent_id,
            created_at=now(),
            updated_at=now(),
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


def _serialize_with_aliases(s: Session, customers: list[Customer]) -> list[dict[str, Any]]:
    aliases = repo.alias_values_many(s, [c.id for c in customers])
    return [customer_json(c, aliases[c.id]) for c in customers]


@router.get("/customers/by-alias/{alias}")
def get_customer_by_alias(alias: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        customer = repo.by_alias(s, who.account_id, alias)
        if customer is None:
            raise not_found("customer")
        return JSONResponse(customer_json(customer, repo.alias_values(s, customer.id)))


@router.get("/customers/{customer_id}")
def get_customer(customer_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        customer = owned(s, Customer, who.account_id, customer_id)
        if customer is None:
            raise not_found("customer")
        return JSONResponse(customer_json(customer, repo.alias_values(s, customer.id)))


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


@router.put("/customers/{customer_id}")
def update_customer(
    customer_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    body = parse_json(raw)
    affected: list[uuid.UUID] = []

    def action(s: Session) -> tuple[int, Any]:
        customer = owned(s, Customer, who.account_id, customer_id, lock=True)
        if customer is None:
            raise not_found("customer")
        v = Fields(body)
        _map_legacy(v)
        if "legalName" in v.body:
            customer.legal_name = v.string("legalName") or customer.legal_name
        if "address" in v.body:
            customer.address = _address(v, required=True) or customer.address
        if "contacts" in v.body:
            customer.contacts = _contacts(v)
        if "taxStatus" in v.body:
            status = v.enum("taxStatus", TAX_STATUSES)
            if status and status != customer.tax_status:
                customer.tax_status = status
                affected.append(customer.id)
        if "integrationIds" in v.body:
            customer.integration_ids = _integration_ids(v)
        for key, column in (("url", "url"), ("domain", "domain"), ("label", "label")):
            if key in v.body:
                setattr(customer, column, v.string(key, required=False, max_len=2048))
        if "parentId" in v.body:
            customer.parent_id = _check_parent(s, who, v, customer.id)
        v.raise_if_errors()
        customer.updated_at = now()
        if affected:
            recalculation.request_for_customers(s, who.account_id, affected)
        return 200, customer_json(customer, repo.alias_values(s, customer.id))

    return run_mutation(request, who, raw, action, after_commit=recalculation.kick)


@router.post("/customers/{customer_id}/archive")
def archive_customer(
    customer_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        customer = owned(s, Customer, who.account_id, customer_id, lock=True)
        if customer is None:
            raise not_found("customer")
        customer.archived_at = customer.archived_at or now()
        customer.updated_at = now()
        return 200, customer_json(customer, repo.alias_values(s, customer.id))

    return run_mutation(request, who, raw, action)


# --- aliases --------------------------------------------------------------------------------------------------


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
        _check_alias(s, who, value, "value", errors)
        if errors:
            raise validation_error(errors)
        assert customer is not None
        alias = repo.add_alias(s, who.account_id, customer.id, value, label)
        if alias is None:
            raise conflict(f"alias {value!r} is already in use (deleted aliases are never reusable)", key="value")
        recalculation.request_for_customers(s, who.account_id, [customer.id])
        return 201, alias_json(alias)

    return run_mutation(request, who, raw, action, after_commit=recalculation.kick)


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


@router.delete("/customer-aliases/{alias_id}", status_code=204)
def delete_alias(
    alias_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        alias = owned(s, CustomerAlias, who.account_id, alias_id, lock=True)
        if alias is None or alias.deleted_at is not None:
            raise not_found("customer alias")
        alias.deleted_at = now()
        recalculation.request_for_customers(s, who.account_id, [alias.customer_id])
        return 204, None

    return run_mutation(request, who, raw, action, after_commit=recalculation.kick)
