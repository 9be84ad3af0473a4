"""Invoices: lists, lifecycle actions, recalculation, manual invoices and their document fields (SPEC §2.12,
§4.14). Their lines and groups are in ``invoice_lines``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import false, select
from sqlalchemy.orm import Session

from billrun.api.errors import field_error, invalid_transition, not_found
from billrun.api.http import (
    Caller,
    JSONResponse,
    Query,
    RecordResponse,
    caller,
    page_params,
    parse_json,
    raw_body,
    run_mutation,
    wants_html,
)
from billrun.api.invoice_input import document_fields
from billrun.api.listing import list_page
from billrun.billing import documents, lifecycle, manual_invoices, recalculation
from billrun.billing.snapshots import expand_snapshot
from billrun.domain.money import SUPPORTED_CURRENCIES
from billrun.domain.statuses import LIVE_EDITABLE, InvoiceStatus, PaymentStatus
from billrun.store import invoices as invoice_repo
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import (
    BillingSchedule,
    Customer,
    Invoice,
    InvoiceLineItem,
)
from billrun.validation import Fields
from billrun.views.invoices import invoices_json, one_invoice_json
from billrun.views.serialize import ts

router = APIRouter()
STATUSES = list(InvoiceStatus)
PAYMENT_STATUSES = list(PaymentStatus)


def invoice_of(s: Session, who: Caller, invoice_id: str, lock: bool = False) -> Invoice:
    """The caller's invoice, else 404."""
    invoice = owned(s, Invoice, who.account_id, invoice_id, lock=lock)
    if invoice is None:
        raise not_found("invoice")
    return invoice


@router.get("/invoices")
def list_invoices(request: Request, who: Caller = Depends(caller)) -> Response:
    query = Query(request)
    page = page_params(query, ["CUSTOMER_LEGAL_COMPANY_NAME", "GROSS_TOTAL", "ACCOUNTING_DATE"])
    stmt = select(Invoice).where(Invoice.account_id == who.account_id)
    status = query.enum("invoiceStatus", STATUSES)
    if status:
        stmt = stmt.where(Invoice.status == status)
    payment = query.enum("invoicePaymentStatus", PAYMENT_STATUSES)
    if payment:
        stmt = stmt.where(Invoice.payment_status == payment)
    for name, column in (
        ("customerId", Invoice.customer_id),
        ("billingScheduleId", Invoice.billing_schedule_id),
        ("billingRunId", Invoice.billing_run_id),
    ):
        value = query.uuid(name)
        if value is not None:
            stmt = stmt.where(column == value) if value else stmt.where(false())
    before, after = query.date("invoiceBefore"), query.date("invoiceAfter")
    if before:
        stmt = stmt.where(Invoice.billing_period_start < before)
    if after:
        stmt = stmt.where(Invoice.billing_period_start > after)
    currencies = query.enum_list("invoiceCurrency", sorted(SUPPORTED_CURRENCIES))
    if currencies:
        stmt = stmt.where(Invoice.currency.in_(currencies))
    if query.boolean("excludeZeroQuantity"):
        nonzero = select(InvoiceLineItem.invoice_id).where(InvoiceLineItem.quantity != 0)
        stmt = stmt.where(Invoice.id.in_(nonzero))
    query.raise_if_errors()
    sort = {
        "CUSTOMER_LEGAL_COMPANY_NAME": Invoice.customer_legal_company_name,
        "GROSS_TOTAL": Invoice.gross_total,
        "ACCOUNTING_DATE": Invoice.accounting_date,
    }.get(page.sort_by, Invoice.created_at)
    return list_page(page, stmt, sort, Invoice.id, serialize_rows=invoices_json)


@router.get(
    "/invoices/{invoice_id}",
    responses={200: {"description": "JSON; HTML with Accept: text/html", "content": {"text/html": {}}}},
)
def get_invoice(invoice_id: str, request: Request, who: Caller = Depends(caller)) -> Response:
    """JSON; a browser (``Accept: text/html``) gets the invoice page."""
    with unit_of_work() as s:
        invoice = invoice_of(s, who, invoice_id)
        if wants_html(request):
            return HTMLResponse(documents.invoice_page(documents.invoice_document(s, invoice)))
        return JSONResponse(one_invoice_json(s, invoice))


@router.get("/invoices/{invoice_id}/calculation-snapshot")
def get_snapshot(invoice_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        invoice = invoice_of(s, who, invoice_id)
        snapshot, history = invoice_repo.latest_snapshot(s, invoice.id)
        if snapshot is None:
            raise not_found("calculation snapshot")
        return RecordResponse(
            {
                "invoiceId": str(invoice.id),
                "createdAt": ts(snapshot.created_at),
                "calculations": history,
                **expand_snapshot(snapshot.body),
            }
        )


def _deleted_json(invoice: Invoice) -> dict[str, Any]:
    """A recalculation that bills nothing deletes the invoice (billing.invoicing.apply_draft): answered like
    Sequence's DELETE, with the object as it was, marked deleted."""
    return {"id": str(invoice.id), "status": invoice.status, "deleted": True, "lineItems": []}


def _action(name: str) -> Any:
    def endpoint(
        invoice_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
    ) -> Response:
        def action(s: Session) -> tuple[int, Any]:
            invoice = invoice_of(s, who, invoice_id, lock=True)
            if name == "draft":
                if not lifecycle.return_to_draft(s, invoice):
                    return 200, _deleted_json(invoice)
            else:
                lifecycle.apply_action(s, invoice, name)
            return 200, one_invoice_json(s, invoice)

        return run_mutation(request, who, raw, action)

    endpoint.__name__ = f"invoice_{name.replace('-', '_')}"
    return endpoint


for _name in ("finalize", "send", "finalize-and-send", "void", "draft"):
    router.post(f"/invoices/{{invoice_id}}/{_name}")(_action(_name))


@router.post("/invoices/{invoice_id}/recalculate")
def recalculate(
    invoice_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    """Synchronous recalculation of one DRAFT or IN_PROGRESS invoice (SPEC §5.7)."""

    def action(s: Session) -> tuple[int, Any]:
        invoice = invoice_of(s, who, invoice_id, lock=True)
        if invoice.status not in LIVE_EDITABLE:
            raise invalid_transition(invoice.status, "recalculate")
        if not recalculation.recalculate_invoice(s, invoice):
            return 200, _deleted_json(invoice)
        return 200, one_invoice_json(s, invoice)

    return run_mutation(request, who, raw, action)


@router.post("/invoices/recalculate", status_code=202)
def recalculate_many(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    v = Fields(parse_json(raw))
    ids = v.string_list("invoiceIds")
    schedule_ref = v.string("billingScheduleId", required=False)
    if not ids and schedule_ref is None:
        v.error("invoiceIds", "required", "give invoiceIds or billingScheduleId")
    v.raise_if_errors()

    def action(s: Session) -> tuple[int, Any]:
        if schedule_ref is not None:
            schedule = owned(s, BillingSchedule, who.account_id, schedule_ref)
            if schedule is None:
                raise field_error("billingScheduleId", "unknownReference", "no such billing schedule")
            found = recalculation.recalculate_schedule_soon(s, schedule)
        else:
            invoices = []
            for raw_id in ids:
                invoice = owned(s, Invoice, who.account_id, raw_id)
                if invoice is None:
                    raise field_error("invoiceIds", "unknownReference", f"no invoice {raw_id}")
                invoices.append(invoice)
            found = recalculation.recalculate_now(s, invoices)
        return 202, {"invoiceIds": [str(i) for i in found]}

    return run_mutation(request, who, raw, action)


@router.delete("/invoices/{invoice_id}")
def delete(
    invoice_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        invoice = invoice_of(s, who, invoice_id, lock=True)
        deleted = one_invoice_json(s, invoice)
        lifecycle.delete_invoice(s, invoice)
        return 200, deleted

    return run_mutation(request, who, raw, action)


@router.put("/invoices/{invoice_id}/payment-status")
def payment_status(
    invoice_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    v = Fields(parse_json(raw))
    status = v.enum("paymentStatus", PAYMENT_STATUSES)
    v.raise_if_errors()

    def action(s: Session) -> tuple[int, Any]:
        invoice = invoice_of(s, who, invoice_id, lock=True)
        if status is not None:
            lifecycle.set_payment_status(invoice, PaymentStatus(status))
        return 200, one_invoice_json(s, invoice)

    return run_mutation(request, who, raw, action)


def _update_invoice(invoice_id: str, request: Request, raw: bytes, who: Caller) -> Response:
    body = parse_json(raw)

    def action(s: Session) -> tuple[int, Any]:
        invoice = invoice_of(s, who, invoice_id, lock=True)
        v = Fields(body)
        fields = document_fields(v, invoice.sequence_fields)
        v.raise_if_errors()
        lifecycle.edit_document(invoice, fields)
        return 200, one_invoice_json(s, invoice)

    return run_mutation(request, who, raw, action)


@router.put("/invoices/{invoice_id}")
def update_invoice(
    invoice_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    return _update_invoice(invoice_id, request, raw, who)


@router.patch("/invoices/{invoice_id}")
def patch_invoice(
    invoice_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    """Sequence's PATCH takes the same fields as its PUT, each optional; so does billrun's PUT."""
    return _update_invoice(invoice_id, request, raw, who)


@router.post("/invoices", status_code=201)
def create_manual_invoice(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    body = parse_json(raw)

    def action(s: Session) -> tuple[int, Any]:
        v = Fields(body)
        customer = owned(s, Customer, who.account_id, v.string("customerId"))
        if customer is None and "customerId" in v.body:
            v.error("customerId", "unknownReference", "customerId does not name a customer")
        currency = v.enum("currency", sorted(SUPPORTED_CURRENCIES))
        schedule_id = None
        if v.has("billingScheduleId"):
            schedule = owned(s, BillingSchedule, who.account_id, v.raw("billingScheduleId"))
            if schedule is None:
                v.error("billingScheduleId", "unknownReference", "no such billing schedule")
            else:
                schedule_id = schedule.id
        period = v.child("billingPeriod", required=False)
        start = period.date("start") if period else None
        end = period.date("endInclusive") if period else None
        fields = document_fields(v, {})
        v.raise_if_errors()
        assert customer is not None and currency is not None
        invoice = manual_invoices.create_invoice(s, customer, currency, schedule_id, (start, end), fields)
        return 201, one_invoice_json(s, invoice)

    return run_mutation(request, who, raw, action)
