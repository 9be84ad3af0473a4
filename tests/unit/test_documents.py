"""Invoice documents without a database: amounts in the seller's locale with the billed minor units, every
value from outside escaped, the watermark by status, lines under their groups, tax per rate."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billrun.documents.formatting import Formats, known_locale
from billrun.documents.model import DocumentGroup, DocumentLine, InvoiceDocument, Seller, TaxSummaryRow
from billrun.documents.render import invoice_html
from billrun.domain.money import SUPPORTED_CURRENCIES, minor_units

EVIL = '<img src=x onerror="alert(1)">'


@pytest.mark.parametrize("currency", sorted(SUPPORTED_CURRENCIES))
def test_money_keeps_the_minor_units_billed_in_every_currency(currency: str) -> None:
    text = Formats("en-GB", currency).money(Decimal("1234.5").quantize(Decimal(1).scaleb(-minor_units(currency))))
    digits = text.rstrip("\xa0 ").split(".")[-1] if "." in text else ""
    assert len("".join(c for c in digits if c.isdigit())) == minor_units(currency), text


def test_locales_format_as_their_readers_expect() -> None:
    assert Formats("en-GB", "GBP").money(Decimal("-1234.50")) == "-£1,234.50"
    assert Formats("de-DE", "EUR").money(Decimal("1234.50")) == "1.234,50\xa0€"
    assert Formats("en-US", "JPY").money(Decimal("5662")) == "¥5,662"
    assert Formats("en-GB", "COP").money(Decimal("10.25")) == "COP10.25"  # CLDR alone would print 10
    assert Formats("en-GB", "GBP").number(Decimal("0.00125")) == "0.00125"
    assert Formats("en-GB", "GBP").rate(Decimal("0.075"), "PERCENTAGE") == "7.5%"
    assert Formats("fr-FR", "EUR").date(dt.date(2024, 4, 1)) == "1 avr. 2024"
    assert known_locale("en-GB") and known_locale("de") and not known_locale("xx-YY") and not known_locale("")


def _doc(status: str, number: str | None, watermark: str | None) -> InvoiceDocument:
    line = DocumentLine(
        EVIL,
        EVIL,
        (dt.date(2024, 4, 16), dt.date(2024, 4, 30)),
        Decimal(1),
        Decimal("250"),
        "ABSOLUTE",
        Decimal("25.00"),
        Decimal("225.00"),
        Decimal("0.2"),
        Decimal("45.00"),
        Decimal("270.00"),
    )
    return InvoiceDocument(
        seller=Seller("acct", EVIL, f"{EVIL}\nLondon", EVIL, 'https://x.example/l.png" onload="alert(1)'),
        id="inv-1",
        status=status,
        invoice_number=number,
        currency="GBP",
        customer_legal_name=EVIL,
        customer_address={"line1": EVIL, "town": "Leeds", "postcode": "LS1", "country": "GB"},
        customer_emails=[EVIL],
        issue_date=dt.date(2024, 5, 1),
        due_date=dt.date(2024, 5, 31),
        billing_period=(dt.date(2024, 4, 1), dt.date(2024, 4, 30)),
        purchase_order_number=EVIL,
        reference=EVIL,
        memo=EVIL,
        groups=[DocumentGroup(EVIL, Decimal("225.00"), Decimal("45.00"), Decimal("270.00"), [line])],
        tax_summary=[TaxSummaryRow(EVIL, Decimal("0.2"), Decimal("225.00"), Decimal("45.00"))],
        net_total=Decimal("225.00"),
        total_tax=Decimal("45.00"),
        gross_total=Decimal("270.00"),
        watermark=watermark,
    )


def test_nothing_from_outside_becomes_markup() -> None:
    html = invoice_html(_doc("FINAL", "INV-7", None))
    assert html.count("<img") == 1  # the logo, and only it
    assert 'onerror="' not in html and 'onload="' not in html
    assert html.count("&lt;img src=x onerror=&#34;alert(1)&#34;&gt;") >= 10
    assert 'src="https://x.example/l.png&#34; onload=&#34;alert(1)"' in html


def test_an_issued_invoice_shows_its_number_and_no_watermark() -> None:
    html = invoice_html(_doc("FINAL", "INV-7", None))
    assert 'id="invoice-number">INV-7<' in html and 'class="watermark"' not in html
    assert "1 May 2024" in html and "31 May 2024" in html and "1 Apr 2024 – 30 Apr 2024" in html
    assert ">−£25.00<" in html and 'id="gross-total">£270.00<' in html and "20% on £225.00" in html


def test_drafts_and_voided_invoices_are_marked_across_the_page() -> None:
    draft = invoice_html(_doc("DRAFT", None, "DRAFT"))
    assert 'id="invoice-number">DRAFT<' in draft and "<span>DRAFT</span>" in draft
    void = invoice_html(_doc("VOIDED", "INV-7", "VOID"))
    assert "<span>VOID</span>" in void and 'id="status">VOIDED<' in void


def test_the_explanation_page_names_the_metric_filter_and_escapes_what_it_prints() -> None:
    from billrun.documents.render import render_html

    line = {
        "index": 0,
        "title": EVIL,
        "price": {"name": EVIL, "structure": {"pricingType": "LINEAR"}, "billingFrequency": "MONTHLY"},
        "metric": {
            "name": "Calls",
            "aggregationType": "COUNT",
            "eventType": "call",
            "propertyFilters": {"region": ["eu", "us"], "tier": ["free"]},
            "propertiesToNegate": ["tier"],
        },
        "steps": [{"text": "3 units x 0.5 = 1.5"}],
        "reasons": [EVIL],
        "rounding": {"text": "1.5 rounded half up to 2 decimal places = 1.50", "to": "1.50"},
        "discounts": [],
        "netTotal": "1.50",
        "tax": {"text": "no tax", "amount": "0.00"},
        "grossTotal": "1.50",
        "matchesInvoice": True,
    }
    body = {"invoiceId": "i", "status": "DRAFT", "currency": "GBP", "lines": [line], "matchesInvoice": True}
    html = render_html("explanation.html.j2", "en-GB", "GBP", "A4", e=body, seller=Seller("S"), heading="Explanation")
    assert "over call events where region is eu or us and tier is not free)" in html
    assert "<img" not in html and "3 units x 0.5 = 1.5" in html
