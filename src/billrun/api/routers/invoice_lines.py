"""An invoice's lines and line-item groups: reading them, and hand edits (SPEC §2.12). The rules of an edit are
in ``billing.manual_invoices``; this module parses, calls it and serialises."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from billrun.api.errors import not_found
from billrun.api.http import Caller, JSONResponse, caller, parse_json, raw_body, run_mutation
from billrun.api.listing import all_items
from billrun.api.routers.invoices import invoice_of
from billrun.billing import manual_invoices
from billrun.billing.errors import TransitionRefused
from billrun.domain.statuses import InvoiceStatus
from billrun.store import invoices as repo
from billrun.store import taxes
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import Invoice, InvoiceLineItem, InvoiceLineItemGroup, Price, TaxRate
from billrun.validation import Fields
from billrun.views.invoices import line_json
from billrun.views.serialize import money

router = APIRouter()


def group_json(g: InvoiceLineItemGroup, currency: str) -> dict[str, Any]:
    return {
        "id": str(g.id),
        "invoiceId": str(g.invoice_id),
        "title": g.title,
        "description": g.description,
        "index": g.index,
        "netTotal": money(g.net_total, currency),
        "totalTax": money(g.total_tax, currency),
        "grossTotal": money(g.gross_total, currency),
    }


def _edit(
    request: Request, raw: bytes, who: Caller, invoice_id: str, edit: Callable[[Session, Invoice], tuple[int, Any]]
) -> Response:
    """Run ``edit`` on the locked invoice in one transaction."""

    def action(s: Session) -> tuple[int, Any]:
        return edit(s, invoice_of(s, who, invoice_id, lock=True))

    return run_mutation(request, who, raw, action)


def _line(s: Session, who: Caller, invoice: Invoice, line_id: str, lock: bool = False) -> InvoiceLineItem:
    line = owned(s, InvoiceLineItem, who.account_id, line_id, lock=lock)
    if line is None or line.invoice_id != invoice.id:
        raise not_found("line item")
    return line


def _group(s: Session, who: Caller, invoice: Invoice, group_id: str) -> InvoiceLineItemGroup:
    group = owned(s, InvoiceLineItemGroup, who.account_id, group_id, lock=True)
    if group is None or group.invoice_id != invoice.id:
        raise not_found("line-item group")
    return group


# --- lines ----------------------------------------------------------------------------------------------------


@router.get("/invoices/{invoice_id}/line-items")
def get_line_items(invoice_id: str, who: Caller = Depends(caller)) -> Response:
    """All lines in index order, in the list envelope (SPEC §2.12: an invoice holds at most 1,000 lines)."""
    with unit_of_work() as s:
        invoice = invoice_of(s, who, invoice_id)
        items = [line_json(line, invoice.currency) for line in repo.lines_of(s, invoice.id)]
    return all_items(items)


@router.get("/invoices/{invoice_id}/line-items/{line_id}")
def get_line(invoice_id: str, line_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        invoice = invoice_of(s, who, invoice_id)
        return JSONResponse(line_json(_line(s, who, invoice, line_id), invoice.currency))


#: A line's Sequence fields billrun keeps and serves but does not act on (SPEC §9).
_LINE_INERT = {
    "externalIds": list,
    "revenueClassification": str,
    "revenueRecognitionMethod": str,
    "creditGrantId": str,
}


def _line_tax(s: Session, who: Caller, v: Fields) -> dict[str, Any]:
    """``taxRate`` as given, or the current rate of ``taxRateId``; both given must agree."""
    out: dict[str, Any] = {}
    given_rate = v.decimal("taxRate", required=False, minimum=Decimal(0), maximum=Decimal(1))
    if given_rate is not None:
        out["tax_rate"], out["tax_rate_id"] = given_rate, None
    if v.has("taxRateId"):
        rate = owned(s, TaxRate, who.account_id, v.raw("taxRateId"))
        if rate is None:
            v.error("taxRateId", "unknownReference", "taxRateId does not name a tax rate")
        else:
            version = taxes.current_versions(s, [rate.id]).get(rate.id)
            out["tax_rate_id"] = rate.id
            out["tax_rate"] = version.amount if version else Decimal(0)
            if given_rate is not None and given_rate != out["tax_rate"]:
                v.error(
                    "taxRate", "conflictingFields", f"taxRate differs from the rate of taxRateId ({out['tax_rate']})"
                )
    return out


def _manual_line_fields(
    s: Session, who: Caller, v: Fields, invoice: Invoice, line: InvoiceLineItem | None
) -> dict[str, Any]:
    """The columns a manual line's request sets: all of them for a new line, those given for an update."""
    partial = line is not None
    out: dict[str, Any] = {}
    if not partial or "title" in v.body:
        out["title"] = v.string("title")
    if not partial or "description" in v.body:
        out["description"] = v.string("description", required=False, max_len=4000)
    if not partial or "quantity" in v.body:
        out["quantity"] = v.decimal("quantity")
    if not partial or "rate" in v.body:
        out["rate"] = v.decimal("rate")
    out.update(_line_tax(s, who, v))
    if v.has("groupId"):
        group = owned(s, InvoiceLineItemGroup, who.account_id, v.raw("groupId"))
        if invoice.drafting_date is not None:  # its groups are replaced by every recalculation
            v.error("groupId", "immutable", "a billed invoice's groups belong to billing; omit groupId")
        elif group is None or group.invoice_id != invoice.id:
            v.error("groupId", "unknownReference", "groupId does not name a line-item group of this invoice")
        else:
            out["group_id"] = group.id
    if v.has("rateDisplay"):
        out["rate_display"] = v.enum("rateDisplay", ["ABSOLUTE", "PERCENTAGE"])
    inert: dict[str, Any] = dict(line.sequence_fields) if line is not None else {}
    v.inert(inert, _LINE_INERT)
    if inert:
        out["sequence_fields"] = inert
    if v.has("priceId"):
        price = owned(s, Price, who.account_id, v.raw("priceId"))
        if price is None:
            v.error("priceId", "unknownReference", "priceId does not name a price of this account")
        else:
            out["price_id"] = price.id
    if v.has("servicePeriod"):
        period = v.child("servicePeriod")
        if period is not None:
            out["service_period_start"] = period.date("startDate")
            out["service_period_end"] = period.date("endDate")
    return out


@router.post("/invoices/{invoice_id}/line-items", status_code=201)
def add_line(
    invoice_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    body = parse_json(raw)

    def edit(s: Session, invoice: Invoice) -> tuple[int, Any]:
        if invoice.status != InvoiceStatus.DRAFT:  # before validating what could never be added
            raise TransitionRefused(invoice.status, "add lines to")
        v = Fields(body)
        fields = _manual_line_fields(s, who, v, invoice, None)
        v.raise_if_errors()
        return 201, line_json(manual_invoices.add_line(s, invoice, fields), invoice.currency)

    return _edit(request, raw, who, invoice_id, edit)


@router.put("/invoices/{invoice_id}/line-items/{line_id}")
def update_line(
    invoice_id: str, line_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    body = parse_json(raw)

    def edit(s: Session, invoice: Invoice) -> tuple[int, Any]:
        line = _line(s, who, invoice, line_id, lock=True)
        v = Fields(body)
        fields = _manual_line_fields(s, who, v, invoice, line)
        v.raise_if_errors()
        manual_invoices.update_line(s, invoice, line, fields)
        return 200, line_json(line, invoice.currency)

    return _edit(request, raw, who, invoice_id, edit)


@router.delete("/invoices/{invoice_id}/line-items/{line_id}")
def delete_line(
    invoice_id: str, line_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def edit(s: Session, invoice: Invoice) -> tuple[int, Any]:
        line = _line(s, who, invoice, line_id, lock=True)
        deleted = line_json(line, invoice.currency)
        manual_invoices.delete_line(s, invoice, line)
        return 200, deleted

    return _edit(request, raw, who, invoice_id, edit)


# --- groups ---------------------------------------------------------------------------------------------------


@router.get("/invoices/{invoice_id}/line-item-groups")
def get_groups(invoice_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        invoice = invoice_of(s, who, invoice_id)
        items = [group_json(g, invoice.currency) for g in repo.groups_of(s, invoice.id)]
    return all_items(items)


def _group_fields(v: Fields, partial: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not partial or "title" in v.body:
        out["title"] = v.string("title")
    if not partial or "description" in v.body:
        out["description"] = v.string("description", required=False, max_len=4000)
    return out


@router.post("/invoices/{invoice_id}/line-item-groups", status_code=201)
def add_group(
    invoice_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    v = Fields(parse_json(raw))
    fields = _group_fields(v, partial=False)
    v.raise_if_errors()

    def edit(s: Session, invoice: Invoice) -> tuple[int, Any]:
        return 201, group_json(manual_invoices.add_group(s, invoice, fields), invoice.currency)

    return _edit(request, raw, who, invoice_id, edit)


@router.put("/invoices/{invoice_id}/line-item-groups/{group_id}")
def update_group(
    invoice_id: str, group_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    v = Fields(parse_json(raw))
    fields = _group_fields(v, partial=True)
    v.raise_if_errors()

    def edit(s: Session, invoice: Invoice) -> tuple[int, Any]:
        group = _group(s, who, invoice, group_id)
        manual_invoices.update_group(invoice, group, fields)
        return 200, group_json(group, invoice.currency)

    return _edit(request, raw, who, invoice_id, edit)


@router.delete("/invoices/{invoice_id}/line-item-groups/{group_id}")
def delete_group(
    invoice_id: str, group_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def edit(s: Session, invoice: Invoice) -> tuple[int, Any]:
        group = _group(s, who, invoice, group_id)
        deleted = group_json(group, invoice.currency)
        manual_invoices.delete_group(s, invoice, group)
        return 200, deleted

    return _edit(request, raw, who, invoice_id, edit)
