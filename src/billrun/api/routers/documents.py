"""Invoices for people: the HTML page (also ``GET /invoices/{id}`` with ``Accept: text/html``), the PDF
(Sequence's ``/download``), the explanation of every line and the events a line counted."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from billrun.api.errors import ApiError, field_error, not_found
from billrun.api.http import Caller, JSONResponse, Query, caller, encode_cursor, page_params, wants_html
from billrun.api.routers.invoices import invoice_of
from billrun.billing import documents, explanation
from billrun.documents.render import PdfUnavailable
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import InvoiceLineItem

router = APIRouter()


@router.get("/invoices/{invoice_id}/html", response_class=HTMLResponse)
def get_invoice_html(invoice_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        doc = documents.invoice_document(s, invoice_of(s, who, invoice_id))
    return HTMLResponse(documents.invoice_page(doc))


PDF: dict[int | str, dict[str, Any]] = {
    200: {"description": "The invoice as a PDF", "content": {"application/pdf": {}}}
}
HTML_TOO: dict[int | str, dict[str, Any]] = {
    200: {"description": "JSON; HTML with Accept: text/html", "content": {"text/html": {}}}
}


@router.get("/invoices/{invoice_id}/download", response_class=Response, responses=PDF)
def download(invoice_id: str, who: Caller = Depends(caller)) -> Response:
    """The invoice as a PDF, rendered after the transaction ends."""
    with unit_of_work() as s:
        doc = documents.invoice_document(s, invoice_of(s, who, invoice_id))
    try:
        pdf = documents.invoice_pdf(doc)
    except PdfUnavailable as exc:
        raise ApiError(503, "pdfUnavailable", str(exc)) from exc
    disposition = f'attachment; filename="{documents.pdf_filename(doc)}"'
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})


def _events_link(invoice_id: str, line_id: str, position: int, event_id: str) -> str:
    path = f"/api/invoices/{invoice_id}/lines/{line_id}/events"
    return f"{path}?after={encode_cursor(f'{path}|', position, event_id)}"


@router.get("/invoices/{invoice_id}/explanation", responses=HTML_TOO)
def get_explanation(invoice_id: str, request: Request, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        invoice = invoice_of(s, who, invoice_id)
        body = explanation.explain_invoice(s, invoice)
        for line in body["lines"]:
            events = line.get("events")
            if events and events["count"] > len(events["first"]) and events["first"]:
                last = len(events["first"]) - 1
                events["next"] = _events_link(invoice_id, line["id"], last, events["first"][-1]["id"])
        if wants_html(request):
            return HTMLResponse(documents.explanation_page(s, invoice, body))
    return JSONResponse(body)


def _window(query: Query, total: int) -> tuple[int, int]:
    """(start, limit) of the page the cursors and ``limit`` ask for; a cursor holds the position of an event."""
    page = page_params(query)
    cursor = page.after or page.before
    if cursor is None:
        return 0, page.limit
    position = cursor[0]
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < total:
        raise field_error("after" if page.after else "before", "invalidFormat", "the cursor does not fit this list")
    if page.after:
        return position + 1, page.limit
    return max(0, position - page.limit), min(page.limit, position)


@router.get("/invoices/{invoice_id}/lines/{line_id}/events")
def get_line_events(invoice_id: str, line_id: str, request: Request, who: Caller = Depends(caller)) -> Response:
    """The usage events a line counted, in ingest order, in the list envelope."""
    query = Query(request)
    with unit_of_work() as s:
        invoice = invoice_of(s, who, invoice_id)
        line = owned(s, InvoiceLineItem, who.account_id, line_id)
        if line is None or line.invoice_id != invoice.id:
            raise not_found("line item")
        counted = explanation.line_events(s, invoice, line)
        total = len(counted.ids) if counted else 0
        start, limit = _window(query, total)
        items = explanation.event_rows(s, invoice.account_id, counted, start, limit) if counted else []
    path = request.url.path
    after = before = None
    if items and start + len(items) < total:
        after = encode_cursor(f"{path}|", start + len(items) - 1, items[-1]["id"])
    if items and start > 0:
        before = encode_cursor(f"{path}|", start, items[0]["id"])
    body: dict[str, Any] = {
        "items": items,
        "pagination": {"after": after, "before": before, "totalResultSize": total},
        "verified": counted.verified if counted else True,
        "changedSince": counted.changed_since if counted else None,
    }
    return JSONResponse(body)
