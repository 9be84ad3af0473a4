"""What an invoice document shows, gathered by ``billing.documents`` from the stored invoice and its
account: plain values, so that rendering reads no database and can be tested on its own."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Seller:
    name: str
    legal_name: str | None = None
    address: str | None = None
    tax_id: str | None = None
    logo_url: str | None = None
    locale: str = "en-GB"
    paper_size: str = "A4"

    @property
    def address_lines(self) -> list[str]:
        return [line.strip() for line in (self.address or "").splitlines() if line.strip()]


@dataclass(frozen=True)
class DocumentLine:
    title: str
    description: str | None
    service_period: tuple[dt.date, dt.date] | None
    quantity: Decimal
    rate: Decimal
    rate_display: str
    discount_total: Decimal
    net_total: Decimal
    tax_rate: Decimal
    total_tax: Decimal
    gross_total: Decimal


@dataclass(frozen=True)
class DocumentGroup:
    title: str
    net_total: Decimal
    total_tax: Decimal
    gross_total: Decimal
    lines: list[DocumentLine]


@dataclass(frozen=True)
class TaxSummaryRow:
    name: str
    rate: Decimal
    net_total: Decimal
    total_tax: Decimal


@dataclass(frozen=True)
class InvoiceDocument:
    seller: Seller
    id: str
    status: str
    invoice_number: str | None
    currency: str
    customer_legal_name: str
    customer_address: dict[str, str] = field(default_factory=dict)
    customer_emails: list[str] = field(default_factory=list)
    issue_date: dt.date | None = None
    due_date: dt.date | None = None
    billing_period: tuple[dt.date, dt.date] | None = None
    purchase_order_number: str | None = None
    reference: str | None = None
    memo: str | None = None
    groups: list[DocumentGroup] = field(default_factory=list)
    tax_summary: list[TaxSummaryRow] = field(default_factory=list)
    net_total: Decimal = Decimal(0)
    total_tax: Decimal = Decimal(0)
    gross_total: Decimal = Decimal(0)
    #: "DRAFT" or "VOID" across the page; None on an issued invoice
    watermark: str | None = None

    @property
    def customer_address_lines(self) -> list[str]:
        a = self.customer_address
        town = " ".join(str(a[k]) for k in ("town", "state", "postcode") if a.get(k))
        lines = [a.get("line1"), a.get("line2"), a.get("line3"), town, a.get("country")]
        return [str(line) for line in lines if line]
