"""Invoices as ``GET /invoices/{id}`` serves them (Sequence's shape)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billrun.store import customers
from billrun.store.models import Invoice, InvoiceLineItem
from billrun.views.serialize import day, ident, money, plain, ts


def invoice_json(i: Invoice, customer_archived: bool) -> dict[str, Any]:
    extra = i.sequence_fields
    return {
        "id": str(i.id),
        "sequenceAccountId": str(i.account_id),
        "billingScheduleId": ident(i.billing_schedule_id),
        "billingRunId": ident(i.billing_run_id),
        "customerId": str(i.customer_id),
        "status": i.status,
        "currency": i.currency,
        "invoiceNumber": i.invoice_number,
        "issueDate": day(i.issue_date),
        "dueDate": day(i.due_date),
        "dueDateSource": "MANUAL" if extra.get("dueDateSet") else "CALCULATED",
        "purchaseOrderNumber": i.purchase_order_number,
        "reference": i.reference,
        "memo": i.memo,
        "customerEmails": i.customer_emails,
        "customerLegalCompanyName": i.customer_legal_company_name or "",
        "customerBillingAddress": i.customer_billing_address,
        "customerShippingAddress": extra.get("customerShippingAddress", i.customer_billing_address),
        "customerTaxStatus": i.customer_tax_status,
        "isCustomerArchived": customer_archived,
        "paymentOptions": extra.get("paymentOptions", []),
        "billingPeriod": {"start": day(i.billing_period_start), "endInclusive": day(i.billing_period_end)}
        if i.billing_period_start
        else None,
        "totalTax": money(i.total_tax, i.currency),
        "netTotal": money(i.net_total, i.currency),
        "grossTotal": money(i.gross_total, i.currency),
        "metadata": i.metadata_,
        "paymentStatus": i.payment_status,
        "createdAt": ts(i.created_at),
        "updatedAt": ts(i.updated_at),
        # Until an accounting date is set, Sequence's is the issue date; a draft's is the date it bills.
        "accountingDate": day(i.accounting_date or i.issue_date or i.drafting_date or i.created_at.date()),
        "calculatedAt": ts(i.calculated_at),
        "warnings": i.warnings,
        "attachmentAssetIds": extra.get("attachmentAssetIds", []),
        # Credits, credit notes, payments, integrations and rendering are out of scope (SPEC §9): none apply.
        "creditNoteIds": [],
        "linkedServices": [],
        "appliedCreditGrants": [],
        "appliedCreditNotes": [],
        "projectedCreditGrants": [],
        "paymentAllocations": [],
        "integrationPaymentStatuses": {},
        "renderSettings": {"paymentLinkDisplay": "HIDE_PAYMENT_LINK"},
    }


def invoices_json(s: Session, invoices: list[Invoice]) -> list[dict[str, Any]]:
    archived = customers.archived_among(s, {i.customer_id for i in invoices})
    return [invoice_json(i, i.customer_id in archived) for i in invoices]


def one_invoice_json(s: Session, invoice: Invoice) -> dict[str, Any]:
    (body,) = invoices_json(s, [invoice])
    return body


def line_json(line: InvoiceLineItem, currency: str) -> dict[str, Any]:
    start, end = line.service_period_start, line.service_period_end
    return {
        "id": str(line.id),
        "invoiceId": str(line.invoice_id),
        "groupId": ident(line.group_id),
        "index": line.index,
        "title": line.title,
        "description": line.description,
        "quantity": plain(line.quantity),
        "rate": plain(line.rate),
        "rateDisplay": line.rate_display,
        "discountTotal": money(line.discount_total, currency),
        "taxRate": plain(line.tax_rate),
        "taxRateId": ident(line.tax_rate_id),
        "netTotal": money(line.net_total, currency),
        "totalTax": money(line.total_tax, currency),
        "grossTotal": money(line.gross_total, currency),
        "priceId": ident(line.price_id),
        "servicePeriod": {"startDate": day(start), "endDate": day(end)} if start else None,
        "servicePeriodStart": f"{start.isoformat()}T00:00:00.000000Z" if start else None,
        "servicePeriodEnd": f"{end.isoformat()}T23:59:59.999999Z" if end else None,
        "kind": line.kind,
        "source": line.source,
        "externalIds": line.sequence_fields.get("externalIds", []),
        **{k: v for k, v in line.sequence_fields.items() if k != "externalIds"},
    }
