"""Tax rates with versions (SPEC §2.10). Each PUT appends a version; the current one is the highest
published version."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from billrun.api.errors import not_found
from billrun.api.http import Caller, JSONResponse, Query, caller, page_params, parse_json, raw_body, run_mutation
from billrun.api.listing import all_items, list_page
from billrun.billing import tax_rates
from billrun.billing.clock import real_now
from billrun.store import taxes
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import TaxRate, TaxRateVersion
from billrun.validation import Fields
from billrun.views.serialize import plain, ts

router = APIRouter()


def tax_rate_json(rate: TaxRate, version: TaxRateVersion) -> dict[str, Any]:
    return {
        "id": str(rate.id),
        "versionId": str(version.id),
        "sequenceAccountId": str(rate.account_id),
        "version": version.version,
        "isPublished": version.is_published,
        "name": version.name,
        "invoiceName": version.invoice_name,
        "invoiceShortName": version.invoice_short_name,
        "description": version.description,
        "amount": plain(version.amount),
        "country": version.country,
        "region": version.region,
        "isArchived": rate.is_archived,
        "subRates": [],  # compound taxes are out of scope (SPEC §9): a rate is its own single rate
        "createdAt": ts(rate.created_at),
        "updatedAt": ts(rate.updated_at),
    }


def _version_fields(v: Fields, base: TaxRateVersion | None) -> dict[str, Any]:
    partial = base is not None

    def pick(key: str, column: str, value: Any) -> Any:
        return value if (not partial or key in v.body) else getattr(base, column)

    country = v.string("country", required=not partial, max_len=2)
    if country is not None and (len(country) != 2 or not country.isalpha()):
        v.error("country", "invalidFormat", "country must be an ISO 3166-1 alpha-2 code")
    return {
        "name": pick("name", "name", v.string("name", required=not partial)),
        "invoice_name": pick("invoiceName", "invoice_name", v.string("invoiceName", required=not partial)),
        "invoice_short_name": pick(
            "invoiceShortName", "invoice_short_name", v.string("invoiceShortName", required=not partial)
        ),
        "description": pick("description", "description", v.string("description", required=False, max_len=4000)),
        "amount": pick(
            "amount", "amount", v.decimal("amount", required=not partial, minimum=Decimal(0), maximum=Decimal(1))
        ),
        "country": pick("country", "country", country.upper() if country else None),
        "region": pick("region", "region", v.string("region", required=False)),
        "is_published": pick("isPublished", "is_published", v.boolean("isPublished", default=True)),
    }


@router.post("/tax-rates", status_code=201)
def create_tax_rate(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    v = Fields(parse_json(raw))
    fields = _version_fields(v, None)
    v.raise_if_errors()

    def action(s: Session) -> tuple[int, Any]:
        rate = TaxRate(account_id=who.account_id, created_at=real_now(), updated_at=real_now())
        s.add(rate)
        s.flush()
        version = TaxRateVersion(account_id=who.account_id, tax_rate_id=rate.id, version=0, **fields)
        s.add(version)
        s.flush()
        return 201, tax_rate_json(rate, version)

    return run_mutation(request, who, raw, action)


@router.get("/tax-rates")
def list_tax_rates(request: Request, who: Caller = Depends(caller)) -> Response:
    page = page_params(Query(request))

    def serialize(s: Session, rates: list[TaxRate]) -> list[dict[str, Any]]:
        return [tax_rate_json(rate, taxes.latest_version(s, rate.id)) for rate in rates]

    return list_page(
        page,
        select(TaxRate).where(TaxRate.account_id == who.account_id),
        TaxRate.created_at,
        TaxRate.id,
        serialize_rows=serialize,
    )


@router.get("/tax-rates/{rate_id}")
def get_tax_rate(rate_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        rate = owned(s, TaxRate, who.account_id, rate_id)
        if rate is None:
            raise not_found("tax rate")
        return JSONResponse(tax_rate_json(rate, taxes.latest_version(s, rate.id)))


@router.put("/tax-rates/{rate_id}")
def update_tax_rate(
    rate_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    body = parse_json(raw)

    def action(s: Session) -> tuple[int, Any]:
        rate = owned(s, TaxRate, who.account_id, rate_id, lock=True)
        if rate is None:
            raise not_found("tax rate")
        latest = taxes.latest_version(s, rate.id)
        v = Fields(body)
        fields = _version_fields(v, latest)
        v.raise_if_errors()
        return 200, tax_rate_json(rate, tax_rates.publish_version(s, rate, latest, fields))

    return run_mutation(request, who, raw, action)


@router.get("/tax-rates/{rate_id}/versions")
def list_versions(rate_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        rate = owned(s, TaxRate, who.account_id, rate_id)
        if rate is None:
            raise not_found("tax rate")
        versions = taxes.versions(s, rate.id)
        items = [tax_rate_json(rate, version) for version in versions]
    return all_items(items)


@router.get("/tax-rates/{rate_id}/versions/{version}")
def get_version(rate_id: str, version: int, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        rate = owned(s, TaxRate, who.account_id, rate_id)
        found = next((v for v in taxes.versions(s, rate.id) if v.version == version), None) if rate else None
        if rate is None or found is None:
            raise not_found("tax rate version")
        return JSONResponse(tax_rate_json(rate, found))


@router.post("/tax-rates/{rate_id}/archive")
def archive_tax_rate(
    rate_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        rate = owned(s, TaxRate, who.account_id, rate_id, lock=True)
        if rate is None:
            raise not_found("tax rate")
        rate.is_archived = True
        rate.updated_at = real_now()
        return 200, tax_rate_json(rate, taxes.latest_version(s, rate.id))

    return run_mutation(request, who, raw, action)


@router.delete("/tax-rates/{rate_id}")
def delete_tax_rate(
    rate_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        rate = owned(s, TaxRate, who.account_id, rate_id, lock=True)
        if rate is None:
            raise not_found("tax rate")
        deleted = tax_rate_json(rate, taxes.latest_version(s, rate.id))
        tax_rates.delete(s, rate)
        return 200, deleted

    return run_mutation(request, who, raw, action)
