"""Persisting a computed invoice draft: insert, or recalculate a DRAFT in place, never touching FINAL, SENT
or VOIDED invoices (SPEC §4.14, §6.3), with its lines, groups and audit snapshot (SPEC §6.7)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from billrun import ENGINE_VERSION, jsonutil
from billrun.billing import outbox
from billrun.billing.loading import ScheduleContext, SqlRatingData, metric_json, price_snapshot
from billrun.domain.inputs import TaxRateRef
from billrun.domain.invoice import InvoiceDraft
from billrun.domain.money import plain_decimal, round_money
from billrun.domain.statuses import EventType, InvoiceStatus
from billrun.ids import uuid7
from billrun.jsonutil import RawJson
from billrun.store import invoices as invoice_repo
from billrun.store import runs as run_repo
from billrun.store.bulk import copy_mapped
from billrun.store.models import (
    CalculationSnapshot,
    Invoice,
    InvoiceLineItem,
    InvoiceLineItemGroup,
    Price,
)
from billrun.views.invoices import one_invoice_json


def customer_emails(contacts: list[dict[str, Any]]) -> list[str]:
    """PRIMARY then STANDARD contacts' emails (SPEC §2.12); archived contacts receive nothing."""
    live = [c for c in contacts if not c.get("archivedAt")]
    ordered = [c for c in live if c.get("billingPreference") == "PRIMARY"] + [
        c for c in live if c.get("billingPreference", "STANDARD") == "STANDARD"
    ]
    return [c["email"] for c in ordered if c.get("email")]


def invoice_values(ctx: ScheduleContext, drafting_date: dt.date, clock: dt.datetime) -> dict[str, Any]:
    """A new DRAFT engine invoice's columns, with the customer's details copied at drafting time."""
    schedule, customer = ctx.row, ctx.customer
    return {
        "id": uuid7(),
        "account_id": schedule.account_id,
        "billing_schedule_id": schedule.id,
        "customer_id": customer.id,
        "drafting_date": drafting_date,
        "status": InvoiceStatus.DRAFT,
        "currency": schedule.currency,
        "purchase_order_number": schedule.purchase_order_number,
        "reference": schedule.reference,
        "customer_emails": customer_emails(customer.contacts),
        "customer_legal_company_name": customer.legal_name,
        "customer_billing_address": customer.address,
        "customer_tax_status": customer.tax_status,
        "created_at": clock,
        "updated_at": clock,
    }


#: The catalog parts of calculation snapshots as JSON text, keyed by everything they are made of: the invoices
#: of a billing run name the same few prices and tax rates thousands of times (a third of a snapshot's text),
#: so each is serialised once per process, not once per invoice.
_CATALOG_JSON: dict[tuple[Any, ...], RawJson] = {}
_CATALOG_JSON_LIMIT = 10_000


def _catalog_json(key: tuple[Any, ...], build: Callable[[], Any]) -> RawJson:
    found = _CATALOG_JSON.get(key)
    if found is None:
        if len(_CATALOG_JSON) >= _CATALOG_JSON_LIMIT:
            _CATALOG_JSON.clear()
        found = _CATALOG_JSON[key] = RawJson(jsonutil.dumps(build()))
    return found


def _price_json(p: Price) -> RawJson:
    # a price is immutable but for its name, whose change moves updatedAt (SPEC §2.5)
    return _catalog_json(("price", p.id, p.name, p.updated_at), lambda: price_snapshot(p))


def _tax_rates_json(refs: Mapping[str, TaxRateRef]) -> RawJson:
    # a published tax rate version never changes (SPEC §2.10): the references are the whole content
    return _catalog_json(
        ("taxRates", *refs.items()),
        lambda: [
            {
                "priceId": pid,
                "taxRateId": ref.tax_rate_id,
                "versionId": ref.version_id,
                "version": ref.version,
                "amount": str(ref.amount),
            }
            for pid, ref in refs.items()
        ],
    )


def snapshot_body(
    ctx: ScheduleContext,
    draft: InvoiceDraft,
    data: SqlRatingData,
    clock: dt.datetime,
    run_id: uuid.UUID | None,
    trigger: str,
) -> dict[str, Any]:
    """Everything the calculation read, enough to recompute its totals exactly (SPEC §6.7)."""
    schedule = ctx.row
    lines = [
        {
            "index": line.index,
            "kind": line.kind,
            "title": line.title,
            "priceId": line.price_id,
            "servicePeriod": [line.service_period.start.isoformat(), line.service_period.end.isoformat()]
            if line.service_period
            else None,
            "derivation": line.derivation,  # counted events as a digest and watermark (SPEC §6.7, revised)
        }
        for line in draft.lines
    ]
    return {
        "engineVersion": ENGINE_VERSION,
        "clock": clock.isoformat(),
        "billingRunId": str(run_id) if run_id else None,
        "trigger": trigger,
        "draftingDate": draft.drafting_date.isoformat(),
        "schedule": {
            "id": str(schedule.id),
            "updatedAt": schedule.updated_at.isoformat(),
            "startDate": schedule.start_date.isoformat(),
            "endDate": schedule.end_date.isoformat() if schedule.end_date else None,
            "recurrenceDayOfMonth": schedule.recurrence_day_of_month,
            "currency": schedule.currency,
            "rollUpBilling": schedule.roll_up_billing,
            "phases": [
                {
                    "id": p.id,
                    "startDate": p.start.isoformat(),
                    "endDate": p.end.isoformat() if p.end else None,
                    "priceIds": list(p.price_ids),
                    "recurrencePreference": p.recurrence.value,
                    "discounts": [
                        {
                            "id": d.id,
                            "type": d.type.value,
                            "amount": str(d.amount),
                            "message": d.message,
                            "separateLineItem": d.separate_line_item,
                            "restrictToPrices": list(d.restrict_to_prices),
                        }
                        for d in p.discounts
                    ],
                    "minimums": [
                        {"id": m.id, "amount": str(m.amount), "restrictToPrices": list(m.restrict_to_prices)}
                        for m in p.minimums
                    ],
                }
                for p in ctx.spec.phases
            ],
        },
        "prices": [_price_json(p) for p in ctx.prices.values()],
        "seatTypes": {pid: spec.seat_type for pid, spec in ctx.spec.prices.items() if spec.seat_type},
        "usageMetrics": [metric_json(m) for m in ctx.metric_rows.values()],
        "taxRates": _tax_rates_json(ctx.tax_refs),
        "customer": {"id": str(ctx.customer.id), "taxStatus": ctx.customer.tax_status, "aliases": sorted(ctx.aliases)},
        "usage": [
            {
                "metricId": mid,
                "window": [w.start.isoformat(), w.end.isoformat()],
                "value": str(v.value),
                "eventCount": v.event_count,
                "invalidPropertyValues": v.invalid_property_values,
            }
            for (mid, w), v in data.usage_read.items()
        ],
        "eventValues": [
            {
                "metricId": mid,
                "window": [w.start.isoformat(), w.end.isoformat()],
                "values": [None if x is None else str(x) for x in values],
            }
            for (mid, w), values in data.values_read.items()
        ],
        "seatTimelines": {
            seat_type: [[ts.isoformat(), total] for ts, total in timeline.changes]
            for seat_type, timeline in data.seats_read.items()
        },
        "seatEventIds": {k: list(v) for k, v in data.seat_event_ids.items()},
        "lines": lines,
        "totals": {
            "netTotal": str(draft.net_total),
            "totalTax": str(draft.total_tax),
            "grossTotal": str(draft.gross_total),
        },
        "warnings": list(draft.warnings),
    }


def _decimal_of(value: Fraction) -> Decimal:
    return plain_decimal(value)


@dataclass
class DraftRows:
    """One calculation as rows: the invoice's new column values, its groups, ENGINE lines and snapshot."""

    totals: dict[str, Any]
    groups: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    snapshot: dict[str, Any]


def draft_rows(
    ctx: ScheduleContext,
    invoice_id: uuid.UUID,
    currency: str,
    draft: InvoiceDraft,
    clock: dt.datetime,
    run_id: uuid.UUID | None,
    trigger: str,
    data: SqlRatingData,
    manual: Sequence[InvoiceLineItem] = (),
) -> DraftRows:
    """Build the rows for ``draft``; MANUAL lines stay, after the engine lines (SPEC §4.12 line order), and
    count in the totals. Plain dicts, so that a chunk of runs can be written with one multi-row insert per
    table."""
    account_id = ctx.row.account_id
    group_ids: dict[str, uuid.UUID] = {}
    groups = []
    for line_group in draft.groups:
        group_ids[line_group.product_id] = group_id = uuid7()
        groups.append(
            {
                "id": group_id,
                "account_id": account_id,
                "invoice_id": invoice_id,
                "product_id": uuid.UUID(line_group.product_id) if line_group.product_id else None,
                "title": ctx.product_names.get(line_group.product_id, ""),
                "description": None,
                "index": line_group.index,
                "net_total": line_group.net_total,
                "total_tax": line_group.total_tax,
                "gross_total": line_group.gross_total,
            }
        )
    lines = [
        {
            "id": uuid7(),
            "account_id": account_id,
            "invoice_id": invoice_id,
            "group_id": group_ids.get(line.product_id or ""),
            "index": line.index,
            "title": line.title,
            "description": line.description,
            "quantity": _decimal_of(line.quantity),
            "rate": _decimal_of(line.rate),
            "rate_display": line.rate_display,
            "discount_total": line.discount_total,
            "tax_rate": line.tax_rate,
            "tax_rate_id": uuid.UUID(line.tax_rate_id) if line.tax_rate_id else None,
            "net_total": line.net_total,
            "total_tax": line.total_tax,
            "gross_total": line.gross_total,
            "price_id": uuid.UUID(line.price_id) if line.price_id else None,
            "service_period_start": line.service_period.start if line.service_period else None,
            "service_period_end": line.service_period.end if line.service_period else None,
            "kind": line.kind,
            "source": "ENGINE",
        }
        for line in draft.lines
    ]
    net, tax = draft.net_total, draft.total_tax
    for offset, manual_line in enumerate(manual):
        manual_line.index = len(draft.lines) + offset
        net += manual_line.net_total
        tax += manual_line.total_tax
    net_total, total_tax = round_money(net, currency), round_money(tax, currency)
    totals: dict[str, Any] = {
        "net_total": net_total,
        "total_tax": total_tax,
        "gross_total": net_total + total_tax,
        "billing_period_start": draft.billing_period.start if draft.billing_period else None,
        "billing_period_end": draft.billing_period.end if draft.billing_period else None,
        "accounting_date": draft.accounting_date,
        "customer_tax_status": draft.customer_tax_status.value,
        "warnings": [{"code": w, "message": WARNING_TEXT.get(w, w)} for w in draft.warnings],
        "calculated_at": clock,
        "updated_at": clock,
    }
    if run_id is not None:
        totals["billing_run_id"] = run_id
    snapshot = {
        "id": uuid7(),
        "account_id": account_id,
        "invoice_id": invoice_id,
        "billing_run_id": run_id,
        "body": snapshot_body(ctx, draft, data, clock, run_id, trigger),
    }
    return DraftRows(totals, groups, lines, snapshot)


def insert_rows(session: Session, rows: Sequence[DraftRows]) -> None:
    """Groups, lines and snapshots of many calculations, one COPY per table (their invoices exist)."""
    for model, chosen in (
        (InvoiceLineItemGroup, [g for r in rows for g in r.groups]),
        (InvoiceLineItem, [line for r in rows for line in r.lines]),
        (CalculationSnapshot, [r.snapshot for r in rows]),
    ):
        copy_mapped(session, model, chosen)


def apply_draft(
    session: Session,
    ctx: ScheduleContext,
    invoice: Invoice,
    draft: InvoiceDraft,
    clock: dt.datetime,
    run_id: uuid.UUID | None,
    trigger: str,
    data: SqlRatingData,
) -> bool:
    """The one rule for a calculation written over a live (DRAFT or IN_PROGRESS) engine invoice, used by a
    run's re-execution and by a late-event recalculation alike: its ENGINE lines are replaced by ``draft``'s.

    When the calculation bills nothing any more (an ON_DEMAND day whose events were voided or moved) and the
    invoice holds no MANUAL line, the invoice is deleted as ``DELETE`` deletes it (SPEC §4.14: the run stays
    COMPLETED with ``invoiceId: null``), because a run that bills nothing persists no invoice (§4.4). MANUAL
    lines keep an invoice alive with its engine lines gone. Returns False when the invoice was deleted."""
    # the ENGINE lines, groups and totals are replaced; MANUAL lines stay
    invoice_repo.drop_engine_lines(session, invoice.id)
    manual = invoice_repo.lines_of(session, invoice.id)
    if draft.is_empty and not manual:
        run_repo.unlink_invoice(session, invoice.id)
        outbox.publish(
            session, invoice.account_id, EventType.INVOICE_DELETED, one_invoice_json(session, invoice), invoice.id
        )
        session.delete(invoice)
        session.flush()
        return False
    rows = draft_rows(ctx, invoice.id, invoice.currency, draft, clock, run_id, trigger, data, manual)
    for column, value in rows.totals.items():
        setattr(invoice, column, value)
        # written even when equal: Decimal("0") == Decimal("0.00"), and the stored scale must be the
        # calculation's, as the chunk path's COPY writes it
        flag_modified(invoice, column)
    session.flush()  # the invoice row exists (and holds its new totals) before its lines reference it
    insert_rows(session, [rows])
    outbox.publish(
        session,
        invoice.account_id,
        EventType.INVOICE_RECALCULATED,
        lambda: one_invoice_json(session, invoice),
        invoice.id,
    )
    return True


WARNING_TEXT = {
    "missingTaxRate": "a price of a TAXED customer has no tax-rate mapping; its lines are taxed at 0",
    "negativeUsageClamped": "a metric aggregated to a negative value and was charged as 0",
    "possibleDoubleBilling": "a child customer's active schedule uses the same metric as this roll-up schedule",
}
