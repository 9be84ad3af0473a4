"""billing.manual_invoices on PostgreSQL alone (no HTTP, no worker): hand edits keep the invoice's and its
groups' totals exact, and the state rules refuse what would be overwritten or is no longer a draft."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from billrun.billing import manual_invoices
from billrun.billing.lifecycle import TransitionRefused
from billrun.store.accounts import create_account
from billrun.store.db import unit_of_work
from billrun.store.models import Customer, Invoice

pytestmark = pytest.mark.integration

ADDRESS = {"line1": "1 Road", "town": "London", "postcode": "AB1 2EF", "country": "GB"}


def _invoice(s: Session, drafting_date: dt.date | None = None) -> Invoice:
    account = create_account(s, f"manual-{uuid.uuid4().hex[:8]}", rate_limit_per_minute=0)
    now = dt.datetime.now(dt.UTC)
    customer = Customer(account_id=account.id, legal_name="C", address=ADDRESS, created_at=now, updated_at=now)
    s.add(customer)
    s.flush()
    invoice = Invoice(
        account_id=account.id,
        customer_id=customer.id,
        currency="GBP",
        status="DRAFT",
        drafting_date=drafting_date,
        created_at=now,
        updated_at=now,
    )
    s.add(invoice)
    s.flush()
    return invoice


def test_lines_and_groups_keep_the_totals_exact(database_url: str) -> None:
    with unit_of_work() as s:
        invoice = _invoice(s)
        group = manual_invoices.add_group(s, invoice, {"title": "Seats", "description": None})
        first = manual_invoices.add_line(
            s,
            invoice,
            {"title": "A", "quantity": Decimal("3"), "rate": Decimal("0.335"), "tax_rate": Decimal("0.2")},
        )
        second = manual_invoices.add_line(
            s, invoice, {"title": "B", "quantity": Decimal(1), "rate": Decimal(10), "group_id": group.id}
        )
        # 3 x 0.335 = 1.005 rounds half-up to 1.01; its tax 0.202 to 0.20
        assert (first.index, first.net_total, first.total_tax, first.gross_total) == (
            0,
            Decimal("1.01"),
            Decimal("0.20"),
            Decimal("1.21"),
        )
        assert second.index == 1 and (group.net_total, group.gross_total) == (Decimal(10), Decimal(10))
        assert (invoice.net_total, invoice.total_tax, invoice.gross_total) == (
            Decimal("11.01"),
            Decimal("0.20"),
            Decimal("11.21"),
        )
        manual_invoices.update_line(s, invoice, second, {"quantity": Decimal(2)})
        assert (group.gross_total, invoice.gross_total) == (Decimal(20), Decimal("21.21"))
        with pytest.raises(manual_invoices.EditRefused) as held:
            manual_invoices.delete_group(s, invoice, group)
        assert held.value.code == "inUse"
        manual_invoices.delete_line(s, invoice, second)
        assert (group.gross_total, invoice.gross_total) == (Decimal(0), Decimal("1.21"))
        manual_invoices.delete_group(s, invoice, group)
        s.rollback()


def test_state_rules(database_url: str) -> None:
    with unit_of_work() as s:
        billed = _invoice(s, drafting_date=dt.date(2024, 2, 1))
        with pytest.raises(manual_invoices.EditRefused) as refused:
            manual_invoices.add_group(s, billed, {"title": "Mine"})
        assert refused.value.code == "immutable", "a billed invoice's groups are replaced by recalculation"
        line = manual_invoices.add_line(s, billed, {"title": "Extra", "quantity": Decimal(1), "rate": Decimal(5)})
        assert billed.gross_total == Decimal(5), "a MANUAL line may join a billed DRAFT"
        line.source = "ENGINE"
        with pytest.raises(manual_invoices.EditRefused):
            manual_invoices.update_line(s, billed, line, {"rate": Decimal(6)})
        final = _invoice(s)
        final.status = "FINAL"
        with pytest.raises(TransitionRefused):
            manual_invoices.add_line(s, final, {"title": "Late", "quantity": Decimal(1), "rate": Decimal(1)})
        s.rollback()
