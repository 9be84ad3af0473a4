"""Invoices as ``GET /invoices/{id}`` serves them (Sequence's shape)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billrun.store import customers
from billrun.store.models import Invoice
from billrun.views.serialize import day, ident, money, ts


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
