"""Billing runs (read-only), invoice previews and the manual execution endpoints (SPEC §2.13, §6.4)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import false, select
from sqlalchemy.orm import Session

from billrun.api.errors import forbidden, not_found
from billrun.api.http import Caller, JSONResponse, Query, caller, page_params, parse_json, raw_body, run_mutation
from billrun.api.listing import list_page
from billrun.api.validation_params import path_date
from billrun.billing import triggers
from billrun.billing.preview import Preview, preview_run, preview_schedule
from billrun.domain.invoice import InvoiceDraft, InvoiceLine, LineGroup
from billrun.domain.statuses import InvoiceStatus, RunStatus
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import BillingRun, BillingSchedule
from billrun.validation import Fields
from billrun.views.runs import run_json
from billrun.views.serialize import day, money, plain

router = APIRouter()
RUN_STATUSES = list(RunStatus)


@router.get("/billing-runs")
def list_runs(request: Request, who: Caller = Depends(caller)) -> Response:
    query = Query(request)
    return _runs_page(query, who, query.uuid("billingScheduleId"))


@router.get("/billing-schedules/{schedule_id}/billing-runs")
def list_schedule_runs(schedule_id: str, request: Request, who: Caller = Depends(caller)) -> Response:
    """SPEC §2.1: the runs of one schedule, with the filters and paging of ``GET /billing-runs``."""
    with unit_of_work() as s:
        schedule = owned(s, BillingSchedule, who.account_id, schedule_id)
        if schedule is None:
            raise not_found("billing schedule")
        found = schedule.id
    return _runs_page(Query(request), who, found)


def _runs_page(query: Query, who: Caller, schedule: uuid.UUID | bool | None) -> Response:
    page = page_params(query, ["INTENDED_DRAFTING_DATE"])
    stmt = select(BillingRun).where(BillingRun.account_id == who.account_id)
    status = query.enum("status", RUN_STATUSES)
    if status:
        stmt = stmt.where(BillingRun.status == status)
    if schedule is not None:
        stmt = stmt.where(BillingRun.billing_schedule_id == schedule) if schedule else stmt.where(false())
    date_from, date_to = query.date("intendedDraftingDateFrom"), query.date("intendedDraftingDateTo")
    if date_from:
        stmt = stmt.where(BillingRun.intended_drafting_date >= date_from)
    if date_to:
        stmt = stmt.where(BillingRun.intended_drafting_date <= date_to)
    query.raise_if_errors()
    sort = BillingRun.intended_drafting_date if page.sort_by == "INTENDED_DRAFTING_DATE" else BillingRun.created_at
    return list_page(page, stmt, sort, BillingRun.id, run_json)


@router.get("/billing-runs/{run_id}")
def get_run(run_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        run = owned(s, BillingRun, who.account_id, run_id)
        if run is None:
            raise not_found("billing run")
        return JSONResponse(run_json(run))


@router.post("/billing-runs/{run_id}/invoice-preview")
def preview(run_id: str, who: Caller = Depends(caller)) -> Response:
    """What the run would produce now: the same code path, persisting nothing (``id: null``)."""
    with unit_of_work() as s:
        run = owned(s, BillingRun, who.account_id, run_id)
        if run is None:
            raise not_found("billing run")
        return JSONResponse(_preview_json(preview_run(s, run)))


@router.post("/billing-schedules/{schedule_id}/preview")
def schedule_preview(
    schedule_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    """Every invoice the schedule would draft on ``date`` (default: its next drafting date), from today's data,
    by a run's own calculation, persisting nothing: ``{"billingScheduleId", "date", "invoices": [...]}``."""
    v = Fields(parse_json(raw) if raw.strip() else {})
    date = v.date("date", required=False)
    v.raise_if_errors()
    with unit_of_work() as s:
        schedule = owned(s, BillingSchedule, who.account_id, schedule_id)
        if schedule is None:
            raise not_found("billing schedule")
        when, found = preview_schedule(s, schedule, date)
        invoices = [] if found.draft.is_empty else [_preview_json(found)]
        return JSONResponse({"billingScheduleId": str(schedule.id), "date": when.isoformat(), "invoices": invoices})


def _preview_json(p: Preview) -> dict[str, Any]:
    draft, currency = p.draft, p.currency
    period = draft.billing_period
    return {
        "id": None,
        "billingRunId": str(p.run_id) if p.run_id else None,
        "billingScheduleId": str(p.schedule_id),
        "customerId": str(p.customer_id),
        "status": InvoiceStatus.DRAFT,
        "currency": currency,
        # billrun's invoice shape and, for Sequence's preview schema, its DateRange names
        "billingPeriod": {
            "start": day(period.start),
            "endInclusive": day(period.end),
            "startDate": day(period.start),
            "endDate": day(period.end),
        }
        if period
        else None,
        "customer": {"id": str(p.customer_id)},
        "paymentOptions": [],
        "lineItemGroups": [
            {
                "productId": g.product_id,
                "title": p.product_names.get(g.product_id, ""),
                "index": g.index,
                **_totals(g, currency),
            }
            for g in draft.groups
        ],
        "accountingDate": day(draft.accounting_date),
        "customerTaxStatus": draft.customer_tax_status.value,
        **_totals(draft, currency),
        "warnings": [{"code": w} for w in draft.warnings],
        "lineItems": [_preview_line(line, currency) for line in draft.lines],
    }


def _totals(of: InvoiceDraft | LineGroup | InvoiceLine, currency: str) -> dict[str, str]:
    return {
        "netTotal": money(of.net_total, currency),
        "totalTax": money(of.total_tax, currency),
        "grossTotal": money(of.gross_total, currency),
    }


def _preview_line(line: InvoiceLine, currency: str) -> dict[str, Any]:
    return {
        "index": line.index,
        "title": line.title,
        "description": line.description,
        "quantity": plain(line.quantity),
        "rate": plain(line.rate),
        "rateDisplay": line.rate_display,
        **_totals(line, currency),
        "taxRate": plain(line.tax_rate),
        "kind": line.kind,
        "priceId": line.price_id,
        "externalIds": [],
    }


def _execute(request: Request, raw: bytes, who: Caller, schedule_id: str, date: str | None) -> Response:
    as_of = path_date(date) if date is not None else None
    with unit_of_work() as s:
        schedule = owned(s, BillingSchedule, who.account_id, schedule_id)
        if schedule is None:
            raise not_found("billing schedule")

    def action(_: Session) -> tuple[int, Any]:
        # The trigger commits its own short transactions (and is safe to repeat); an Idempotency-Key record
        # is stored right after it.
        when, run_ids = triggers.execute_schedule(schedule.id, as_of, account_id=who.account_id)
        return 202, {"date": when.isoformat(), "billingRunIds": [str(r) for r in run_ids]}

    return run_mutation(request, who, raw, action)


@router.post("/billing/execution/billing-schedules/{schedule_id}", status_code=202)
def execute_schedule(
    schedule_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    return _execute(request, raw, who, schedule_id, None)


@router.post("/billing/execution/billing-schedules/{schedule_id}/for-date/{date}", status_code=202)
def execute_schedule_for_date(
    schedule_id: str, date: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    return _execute(request, raw, who, schedule_id, date)


def _execute_account(request: Request, raw: bytes, who: Caller, account_ref: str, date: str | None) -> Response:
    if account_ref == "all":
        raise forbidden("accounts/all is operator-only; operators use `billrun run`")
    if account_ref != "self" and account_ref != str(who.account_id):
        raise forbidden("an account can only execute its own billing")
    as_of = path_date(date) if date is not None else None

    def action(_: Session) -> tuple[int, Any]:
        when, run_ids = triggers.execute_account(who.account_id, as_of)
        return 202, {"date": when.isoformat(), "billingRunIds": [str(r) for r in run_ids]}

    return run_mutation(request, who, raw, action)


@router.post("/billing/execution/accounts/{account_ref}", status_code=202)
def execute_account(
    account_ref: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    return _execute_account(request, raw, who, account_ref, None)


@router.post("/billing/execution/accounts/{account_ref}/for-date/{date}", status_code=202)
def execute_account_for_date(
    account_ref: str, date: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    return _execute_account(request, raw, who, account_ref, date)
