"""Invoices as JSON (Sequence's shape) and the document fields an invoice request sets (SPEC §2.12)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billrun.api.serialize import day, ident, money, ts
from billrun.store import customers
from billrun.store.models import Invoice
from billrun.validation import Fields, address

PAYMENT_OPTIONS = ["BANK_TRANSFER", "LINK"]


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


def document_fields(v: Fields, stored: dict[str, Any]) -> dict[str, Any]:
    """The columns an invoice request sets (those given), for POST, PUT and PATCH alike; ``stored`` is the
    invoice's Sequence fields, which the request's inert ones (SPEC §9) are merged into."""
    fields: dict[str, Any] = {}
    for key, column in (("purchaseOrderNumber", "purchase_order_number"), ("reference", "reference")):
        if key in v.body:
            fields[column] = v.string(key, required=False)
    if "memo" in v.body:
        fields["memo"] = v.string("memo", required=False, max_len=10_000)
    if "customerLegalCompanyName" in v.body:
        fields["customer_legal_company_name"] = v.string("customerLegalCompanyName")
    if "customerBillingAddress" in v.body:
        fields["customer_billing_address"] = address(v, "customerBillingAddress", required=True)
    if "accountingDate" in v.body:
        fields["accounting_date"] = v.date("accountingDate", required=False)
    if "customerEmails" in v.body:
        fields["customer_emails"] = v.string_list("customerEmails")
    if "metadata" in v.body:
        fields["metadata_"] = [
            {"key": m.string("key"), "value": m.string("value", max_len=4000)}
            for m in (Fields(e, p, v.errors) for p, e in v.items("metadata"))
        ]
    inert = dict(stored)
    if "dueDate" in v.body:
        fields["due_date"] = v.date("dueDate", required=False)
        inert["dueDateSet"] = fields["due_date"] is not None
    if "customerShippingAddress" in v.body:
        inert["customerShippingAddress"] = address(v, "customerShippingAddress", required=True)
    if "paymentOptions" in v.body:
        options = v.string_list("paymentOptions")
        for i, option in enumerate(options):
            if option not in PAYMENT_OPTIONS:
                v.error(f"paymentOptions[{i}]", "invalidEnum", f"must be one of {', '.join(PAYMENT_OPTIONS)}")
        inert["paymentOptions"] = options
    v.inert(inert, {"attachmentAssetIds": list})
    if inert != stored:
        fields["sequence_fields"] = inert
    return fields
