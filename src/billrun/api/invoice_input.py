"""The document fields an invoice request sets (SPEC §2.12)."""

from __future__ import annotations

from typing import Any

from billrun.validation import Fields, address

PAYMENT_OPTIONS = ["BANK_TRANSFER", "LINK"]


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
