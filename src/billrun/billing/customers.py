"""Changes to customers that change what they are billed (SPEC §2.8, §2.9, §5.7): an alias added or deleted
moves events between customers, a new tax status changes tax; each asks for the affected live invoices to be
recalculated, in the caller's transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billrun.billing import recalculation
from billrun.billing.clock import real_now
from billrun.billing.errors import Refused
from billrun.store import customers as repo
from billrun.store.models import Customer, CustomerAlias


def add_alias(session: Session, customer: Customer, value: str, label: str | None) -> CustomerAlias:
    alias = repo.add_alias(session, customer.account_id, customer.id, value, label)
    if alias is None:
        raise Refused(f"alias {value!r} is already in use (deleted aliases are never reusable)", key="value")
    recalculation.request_for_customers(session, customer.account_id, [customer.id])
    return alias


def delete_alias(session: Session, alias: CustomerAlias) -> None:
    """Deleted for good: its value is never reused, and its events no longer bill the customer."""
    alias.deleted_at = real_now()
    recalculation.request_for_customers(session, alias.account_id, [alias.customer_id])


def set_tax_status(session: Session, customer: Customer, status: str) -> None:
    if status != customer.tax_status:
        customer.tax_status = status
        recalculation.request_for_customers(session, customer.account_id, [customer.id])
