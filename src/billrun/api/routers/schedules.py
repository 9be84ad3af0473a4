"""Billing schedules (SPEC §2.11, §4.15) and time travellers (SPEC §2.13, §7)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import false, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from billrun.api.errors import field_error, not_found
from billrun.api.http import Caller, JSONResponse, Query, caller, page_params, parse_json, raw_body, run_mutation
from billrun.api.listing import list_page
from billrun.api.routers.prices import price_json
from billrun.api.schedule_input import parse_schedule
from billrun.billing import schedules, travellers
from billrun.billing.loading import ScheduleContext, contexts_from
from billrun.billing.schedules import create_schedule, update_schedule
from billrun.domain import drafting
from billrun.domain.statuses import ScheduleStatus
from billrun.store import schedules as schedule_repo
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import (
    BillingSchedule,
    TimeTraveller,
)
from billrun.store.schedules import ScheduleRows
from billrun.validation import Fields
from billrun.views.serialize import day, ident, number, ts
from billrun.views.serialize import integration_ids as integration_ids_json
from billrun.views.travellers import traveller_json

router = APIRouter()


def schedules_json(s: Session, schedules: list[BillingSchedule]) -> list[dict[str, Any]]:
    """Schedules with their phases, prices and tax mappings, read with one query per table for the lot."""
    rows = schedule_repo.rows_of(s, schedules, with_aliases=False, with_details=False)
    contexts = contexts_from(s, schedules, rows, with_aliases=False)
    columns = schedule_repo.serialised_rows(s, [schedule.id for schedule in schedules])
    return [_schedule_json(schedule, rows, columns, contexts[schedule.id]) for schedule in schedules]


def schedule_json(s: Session, schedule: BillingSchedule) -> dict[str, Any]:
    return schedules_json(s, [schedule])[0]


def _schedule_json(
    schedule: BillingSchedule,
    rows: ScheduleRows,
    columns: tuple[dict[uuid.UUID, list[Row[Any]]], ...],
    ctx: ScheduleContext,
) -> dict[str, Any]:
    phases, discounts, minimums, mapping = (grouped.get(schedule.id, []) for grouped in columns)
    price_ids = list(dict.fromkeys(pid for p in phases for pid in p.price_ids))
    prices = rows.prices
    first = drafting.first_drafting_date(ctx.spec)
    return {
        "id": str(schedule.id),
        "customerId": str(schedule.customer_id),
        "status": schedule.status,
        "startDate": day(schedule.start_date),
        "endDate": day(schedule.end_date),
        "taxRates": [{"priceId": str(m.price_id), "taxRateId": str(m.tax_rate_id)} for m in mapping],
        "firstBillingDate": day(first),
        "autoIssueInvoices": schedule.auto_issue_invoices,
        "purchaseOrderNumber": schedule.purchase_order_number,
        "reference": schedule.reference,
        "label": schedule.label,
        "recurrenceDayOfMonth": schedule.recurrence_day_of_month,
        "prices": [price_json(prices[pid]) for pid in price_ids if pid in prices],
        "phases": [_phase_json(schedule.id, p, discounts, minimums) for p in phases],
        "createdAt": ts(schedule.created_at),
        "updatedAt": ts(schedule.updated_at),
        "lastInvoiceId": ident(schedule.last_invoice_id),
        "archivedAt": ts(schedule.archived_at),
        "rollUpBilling": schedule.roll_up_billing,
        "integrationIds": integration_ids_json(schedule.integration_ids),
        # Sequence serves attachments as asset objects; billrun keeps only the ids it was given (SPEC §9).
        "attachmentAssets": [],
        "customFields": {},
        **schedule.sequence_fields,
        "paymentProvider": schedule.payment_provider,
        "timeTravellerId": ident(schedule.time_traveller_id),
    }


def _phase_json(
    schedule_id: uuid.UUID, p: Row[Any], discounts: list[Row[Any]], minimums: list[Row[Any]]
) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "createdAt": ts(p.created_at),
        "billingScheduleId": str(schedule_id),
        "priceIds": p.price_ids,
        "startDate": day(p.start_date),
        "endDate": day(p.end_date),
        "recurrencePreference": p.recurrence_preference,
        "creditGrants": [],  # refused on input (SPEC §9)
        "phasePriceMetadata": [],
        **p.sequence_fields,
        "discounts": [
            {
                "id": str(d.id),
                "type": d.type,
                "amount": number(d.amount),
                "message": d.message,
                "separateLineItem": d.separate_line_item,
                "restrictToPrices": d.restrict_to_prices,
            }
            for d in discounts
            if d.phase_id == p.id
        ],
        "minimums": [
            {
                "id": str(m.id),
                "sequenceAccountId": str(m.account_id),
                "billingScheduleId": str(schedule_id),
                "phaseId": str(p.id),
                "amount": number(m.amount),
                "restrictToPrices": m.restrict_to_prices,
                "createdAt": ts(m.created_at),
                "updatedAt": ts(m.updated_at),
            }
            for m in minimums
            if m.phase_id == p.id
        ],
    }


@router.post("/billing-schedules", status_code=201)
def create(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    body = parse_json(raw)

    def action(s: Session) -> tuple[int, Any]:
        v, parsed = parse_schedule(s, who.account_id, body)
        v.raise_if_errors()
        assert parsed is not None
        schedule = create_schedule(s, who.account_id, parsed)
        s.flush()
        return 201, schedule_json(s, schedule)

    return run_mutation(request, who, raw, action)


@router.get("/billing-schedules")
def list_schedules(request: Request, who: Caller = Depends(caller)) -> Response:
    query = Query(request)
    page = page_params(query, ["START_DATE"])
    stmt = select(BillingSchedule).where(BillingSchedule.account_id == who.account_id)
    customer = query.uuid("customerId")
    if customer is not None:
        stmt = stmt.where(BillingSchedule.customer_id == customer) if customer else stmt.where(false())
    status = query.enum("status", list(ScheduleStatus))
    if status:
        stmt = stmt.where(BillingSchedule.status == status)
    if query.get("autoSendInvoices") is not None:
        stmt = stmt.where(BillingSchedule.auto_issue_invoices == query.boolean("autoSendInvoices"))
    if query.get("label"):
        stmt = stmt.where(BillingSchedule.label == query.get("label"))
    if not query.boolean("includeArchived"):
        stmt = stmt.where(BillingSchedule.archived_at.is_(None))
    query.raise_if_errors()
    sort = BillingSchedule.start_date if page.sort_by == "START_DATE" else BillingSchedule.created_at

    return list_page(page, stmt, sort, BillingSchedule.id, serialize_rows=schedules_json)


@router.get("/billing-schedules/{schedule_id}")
def get_schedule(schedule_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        schedule = owned(s, BillingSchedule, who.account_id, schedule_id)
        if schedule is None:
            raise not_found("billing schedule")
        return JSONResponse(schedule_json(s, schedule))


@router.put("/billing-schedules/{schedule_id}")
def update(
    schedule_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    body = parse_json(raw)

    def action(s: Session) -> tuple[int, Any]:
        schedule = owned(s, BillingSchedule, who.account_id, schedule_id, lock=True)
        if schedule is None:
            raise not_found("billing schedule")
        schedules.ensure_amendable(schedule)
        for key in ("customerId", "timeTravellerId", "isDraft"):
            if key in body and isinstance(body, dict):
                body.pop(key)
        v, parsed = parse_schedule(s, who.account_id, body, updating=True, customer_id=schedule.customer_id)
        v.raise_if_errors()
        assert parsed is not None
        update_schedule(s, schedule, parsed)
        return 200, schedule_json(s, schedule)

    return run_mutation(request, who, raw, action)


@router.put("/billing-schedules/{schedule_id}/activate")
def activate(
    schedule_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        schedule = owned(s, BillingSchedule, who.account_id, schedule_id, lock=True)
        if schedule is None:
            raise not_found("billing schedule")
        schedules.activate(s, schedule)
        return 200, schedule_json(s, schedule)

    return run_mutation(request, who, raw, action)


@router.post("/billing-schedules/{schedule_id}/archive")
def archive(
    schedule_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        schedule = owned(s, BillingSchedule, who.account_id, schedule_id, lock=True)
        if schedule is None:
            raise not_found("billing schedule")
        schedules.archive(s, schedule)
        return 200, schedule_json(s, schedule)

    return run_mutation(request, who, raw, action)


# --- time travellers ------------------------------------------------------------------------------------------


@router.post("/time-travellers", status_code=201)
def create_traveller(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    v = Fields(parse_json(raw))
    frozen = v.timestamp("frozenTime")
    schedule_ref = v.string("billingScheduleId", required=False)
    v.raise_if_errors()
    assert frozen is not None

    def action(s: Session) -> tuple[int, Any]:
        schedule = None
        if schedule_ref is not None:
            schedule = owned(s, BillingSchedule, who.account_id, schedule_ref, lock=True)
            if schedule is None:
                raise field_error("billingScheduleId", "unknownReference", "billingScheduleId does not exist")
        return 201, traveller_json(travellers.create(s, who.account_id, frozen, schedule))

    return run_mutation(request, who, raw, action)


@router.get("/time-travellers")
def list_travellers(request: Request, who: Caller = Depends(caller)) -> Response:
    query = Query(request)
    page = page_params(query)
    stmt = select(TimeTraveller).where(TimeTraveller.account_id == who.account_id)
    schedule = query.uuid("billingScheduleId")
    if schedule is not None:
        stmt = stmt.where(TimeTraveller.billing_schedule_id == schedule) if schedule else stmt.where(false())
    return list_page(page, stmt, TimeTraveller.created_at, TimeTraveller.id, traveller_json)


@router.get("/time-travellers/{traveller_id}")
def get_traveller(traveller_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        traveller = owned(s, TimeTraveller, who.account_id, traveller_id)
        if traveller is None:
            raise not_found("time traveller")
        return JSONResponse(traveller_json(traveller))


@router.put("/time-travellers/{traveller_id}")
def move_traveller(
    traveller_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    """Later: stored with IN_PROGRESS in the same transaction, before the response; equal: no-op; earlier:
    400, time only moves forward (SPEC §7)."""
    v = Fields(parse_json(raw))
    frozen = v.timestamp("frozenTime")
    v.raise_if_errors()
    assert frozen is not None

    def action(s: Session) -> tuple[int, Any]:
        traveller = owned(s, TimeTraveller, who.account_id, traveller_id, lock=True)
        if traveller is None:
            raise not_found("time traveller")
        travellers.move(s, traveller, frozen)
        return 200, traveller_json(traveller)

    return run_mutation(request, who, raw, action)
