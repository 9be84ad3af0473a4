"""An invoice as a document for people: its stored lines, groups and totals, the account as the seller, its
tax per rate (billrun.documents renders it as HTML or PDF)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billrun.documents.charts import paired_bars
from billrun.documents.model import DocumentGroup, DocumentLine, InvoiceDocument, Seller, TaxSummaryRow
from billrun.documents.render import html_to_pdf, invoice_html, render_html
from billrun.domain.money import round_money
from billrun.domain.statuses import LIVE_EDITABLE, InvoiceStatus
from billrun.store import accounts, taxes
from billrun.store import invoices as invoice_repo
from billrun.store.models import Account, Backtest, Invoice, InvoiceLineItem


def seller_of(account: Account) -> Seller:
    return Seller(
        name=account.name,
        legal_name=account.legal_name,
        address=account.address,
        tax_id=account.tax_id,
        logo_url=account.logo_url,
        locale=account.locale,
        paper_size=account.paper_size,
    )


def _line(line: InvoiceLineItem) -> DocumentLine:
    start, end = line.service_period_start, line.service_period_end
    return DocumentLine(
        title=line.title,
        description=line.description,
        service_period=(start, end) if start and end else None,
        quantity=line.quantity,
        rate=line.rate,
        rate_display=line.rate_display,
        discount_total=line.discount_total,
        net_total=line.net_total,
        tax_rate=line.tax_rate,
        total_tax=line.total_tax,
        gross_total=line.gross_total,
    )


def _tax_summary(s: Session, lines: list[InvoiceLineItem], currency: str) -> list[TaxSummaryRow]:
    """Net and tax per (tax rate, percentage), in order of first use; the tax is the sum of the lines' rounded
    taxes, as the invoice's total is (SPEC §4.10), never a re-rounded product."""
    sums: dict[tuple[uuid.UUID | None, Decimal], list[Decimal]] = {}
    for line in lines:
        if line.tax_rate_id is None and line.tax_rate == 0:
            continue
        net_tax = sums.setdefault((line.tax_rate_id, line.tax_rate), [Decimal(0), Decimal(0)])
        net_tax[0] += line.net_total
        net_tax[1] += line.total_tax
    names = taxes.current_versions(s, [rate_id for rate_id, _ in sums if rate_id is not None])
    return [
        TaxSummaryRow(
            names[rate_id].invoice_name if rate_id in names else "Tax",
            rate,
            round_money(net, currency),
            round_money(tax, currency),
        )
        for (rate_id, rate), (net, tax) in sums.items()
    ]


def invoice_document(s: Session, invoice: Invoice) -> InvoiceDocument:
    lines = invoice_repo.lines_of(s, invoice.id)
    groups = invoice_repo.groups_of(s, invoice.id)
    by_group: dict[uuid.UUID | None, list[DocumentLine]] = {}
    for line in lines:
        by_group.setdefault(line.group_id, []).append(_line(line))
    document_groups = [
        DocumentGroup(g.title, g.net_total, g.total_tax, g.gross_total, by_group.pop(g.id, [])) for g in groups
    ]
    for orphans in by_group.values():  # lines outside any group (hand-added ones may be)
        net = sum((ln.net_total for ln in orphans), Decimal(0))
        tax = sum((ln.total_tax for ln in orphans), Decimal(0))
        document_groups.append(DocumentGroup("", net, tax, net + tax, orphans))
    watermark = InvoiceStatus.DRAFT.value if invoice.status in LIVE_EDITABLE else None
    if invoice.status == InvoiceStatus.VOIDED:
        watermark = "VOID"
    start, end = invoice.billing_period_start, invoice.billing_period_end
    return InvoiceDocument(
        seller=seller_of(accounts.get_account(s, invoice.account_id)),
        id=str(invoice.id),
        status=invoice.status,
        invoice_number=invoice.invoice_number,
        currency=invoice.currency,
        customer_legal_name=invoice.customer_legal_company_name or "",
        customer_address=dict(invoice.customer_billing_address or {}),
        customer_emails=list(invoice.customer_emails),
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        billing_period=(start, end) if start and end else None,
        purchase_order_number=invoice.purchase_order_number,
        reference=invoice.reference,
        memo=invoice.memo,
        groups=[g for g in document_groups if g.lines],
        tax_summary=_tax_summary(s, lines, invoice.currency),
        net_total=invoice.net_total,
        total_tax=invoice.total_tax,
        gross_total=invoice.gross_total,
        watermark=watermark,
    )


def invoice_page(doc: InvoiceDocument) -> str:
    return invoice_html(doc)


def invoice_pdf(doc: InvoiceDocument) -> bytes:
    """Called once the document is read, outside the transaction: rendering takes tens of milliseconds and
    needs no database connection held meanwhile."""
    return html_to_pdf(invoice_html(doc))


def pdf_filename(doc: InvoiceDocument) -> str:
    return f"{doc.invoice_number or f'draft-{doc.id}'}.pdf"


def explanation_page(s: Session, invoice: Invoice, body: dict[str, Any]) -> str:
    """The explanation (``billing.explanation``) as a page, in the seller's locale and paper size."""
    seller = seller_of(accounts.get_account(s, invoice.account_id))
    return render_html(
        "explanation.html.j2",
        seller.locale,
        invoice.currency,
        seller.paper_size,
        e=body,
        seller=seller,
        heading="Explanation",
    )


def backtest_page(s: Session, backtest: Backtest, body: dict[str, Any]) -> str:
    """A backtest as a page: old and new revenue per month as bars, and the customers most affected."""
    seller = seller_of(accounts.get_account(s, backtest.account_id))
    currencies = sorted({m["currency"] for m in body["months"]})
    charts = []
    for currency in currencies:
        months = [
            (m["month"], Decimal(m["oldNetTotal"]), Decimal(m["newNetTotal"]))
            for m in body["months"]
            if m["currency"] == currency
        ]
        bars, top = paired_bars(months)
        charts.append({"currency": currency, "bars": bars, "top": top})
    return render_html(
        "backtest.html.j2",
        seller.locale,
        currencies[0] if currencies else "GBP",
        seller.paper_size,
        b=body,
        charts=charts,
        seller=seller,
        heading="Pricing backtest",
    )
