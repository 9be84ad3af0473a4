"""Current seat balances per customer, computed as billing computes them (SPEC §2.7, §4.7.1)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from billrun.domain.seats import SeatTimeline
from billrun.store import catalog
from billrun.store import customers as customer_repo
from billrun.store import usage as usage_repo
from billrun.store.models import Customer


@dataclass(frozen=True)
class Balance:
    seat_type: str
    total: int
    changed_at: dt.datetime


@dataclass(frozen=True)
class CustomerBalances:
    customer: Customer
    aliases: list[str]
    balances: list[Balance]

    @property
    def total(self) -> int:
        return sum(b.total for b in self.balances)

    @property
    def changed_at(self) -> dt.datetime:
        return max((b.changed_at for b in self.balances), default=self.customer.created_at)


def seat_balances(
    session: Session, account_id: uuid.UUID, as_of: dt.datetime, aliases: list[str], exclude_zero: bool
) -> list[CustomerBalances]:
    """Every customer's balances at ``as_of`` (the customers ``aliases`` name, when given), one per seat type
    the customer has events of. A balance that never changed dates from the customer's creation."""
    customers = (
        customer_repo.by_aliases(session, account_id, aliases) if aliases else customer_repo.all_of(session, account_id)
    )
    types = sorted(catalog.seat_types(session, account_id))
    found = []
    for customer in customers:
        alias_set = customer_repo.alias_set(session, account_id, customer.id, roll_up=False)
        balances = []
        for seat_type in types:
            before = as_of + dt.timedelta(microseconds=1)  # an event at exactly as_of counts (b(t) includes t)
            rows = usage_repo.seat_rows(session, account_id, seat_type, alias_set, before=before)
            if not rows:
                continue
            timeline = SeatTimeline.build(rows, seat_type, alias_set)
            changed = timeline.changes[-1][0] if timeline.changes else customer.created_at
            balances.append(Balance(seat_type, timeline.balance_at(as_of), changed))
        entry = CustomerBalances(customer, customer_repo.alias_values(session, customer.id), balances)
        if not (exclude_zero and entry.total == 0):
            found.append(entry)
    return found
