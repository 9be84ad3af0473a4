"""Customer queries: aliases, hierarchies and the alias sets billing counts events for (SPEC §4.13, §5.3)."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from billrun.store.common import as_uuid, one_of
from billrun.store.models import Customer, CustomerAlias


def ancestors(session: Session, customer_id: uuid.UUID) -> list[uuid.UUID]:
    """Parent, grandparent, ... of a customer (nearest first)."""
    chain: list[uuid.UUID] = []
    current = session.get(Customer, customer_id)
    while current is not None and current.parent_id is not None and current.parent_id not in chain:
        chain.append(current.parent_id)
        current = session.get(Customer, current.parent_id)
    return chain


def descendants(session: Session, account_id: uuid.UUID, customer_id: uuid.UUID) -> list[uuid.UUID]:
    rows = session.execute(
        text(
            """
            WITH RECURSIVE tree(id) AS (
                SELECT id FROM customers WHERE account_id = :account AND parent_id = :root
                UNION
                SELECT c.id FROM customers c JOIN tree t ON c.parent_id = t.id WHERE c.account_id = :account
            )
            SELECT id FROM tree
            """
        ),
        {"account": account_id, "root": customer_id},
    ).scalars()
    return list(rows)


def is_customer_id(session: Session, account_id: uuid.UUID, value: str) -> bool:
    parsed = as_uuid(value)
    if parsed is None:
        return False
    row = session.get(Customer, parsed)
    return row is not None and row.account_id == account_id


def add_alias(
    session: Session, account_id: uuid.UUID, customer_id: uuid.UUID, value: str, label: str | None
) -> CustomerAlias | None:
    """Insert an alias; None when the value is taken in this account (now or ever: SPEC §2.9)."""
    alias_id = session.execute(
        insert(CustomerAlias)
        .values(account_id=account_id, customer_id=customer_id, value=value, label=label)
        .on_conflict_do_nothing(index_elements=["account_id", "value"])
        .returning(CustomerAlias.id)
    ).scalar()
    return session.get(CustomerAlias, alias_id) if alias_id else None


def alias_values(session: Session, customer_id: uuid.UUID) -> list[str]:
    return list(
        session.execute(
            select(CustomerAlias.value)
            .where(CustomerAlias.customer_id == customer_id, CustomerAlias.deleted_at.is_(None))
            .order_by(CustomerAlias.created_at, CustomerAlias.id)
        ).scalars()
    )


def alias_values_many(session: Session, customer_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """:func:`alias_values` for many customers in one query."""
    found: dict[uuid.UUID, list[str]] = {cid: [] for cid in customer_ids}
    rows = session.execute(
        select(CustomerAlias.customer_id, CustomerAlias.value)
        .where(CustomerAlias.customer_id.in_(customer_ids), CustomerAlias.deleted_at.is_(None))
        .order_by(CustomerAlias.created_at, CustomerAlias.id)
    ).tuples()
    for customer_id, value in rows:
        found[customer_id].append(value)
    return found


def by_alias(session: Session, account_id: uuid.UUID, alias: str) -> Customer | None:
    if is_customer_id(session, account_id, alias):
        return session.get(Customer, uuid.UUID(alias))
    return session.execute(
        select(Customer)
        .join(CustomerAlias, CustomerAlias.customer_id == Customer.id)
        .where(CustomerAlias.account_id == account_id, CustomerAlias.value == alias, CustomerAlias.deleted_at.is_(None))
    ).scalar()


def alias_set(session: Session, account_id: uuid.UUID, customer_id: uuid.UUID, roll_up: bool) -> frozenset[str]:
    """The ids and live alias values events must carry to count for the customer: with roll-up, also those of
    every descendant (SPEC §4.13). Resolved at calculation time (SPEC §5.3)."""
    members = [customer_id, *(descendants(session, account_id, customer_id) if roll_up else [])]
    values = session.execute(
        select(CustomerAlias.value).where(
            CustomerAlias.account_id == account_id,
            CustomerAlias.customer_id.in_(members),
            CustomerAlias.deleted_at.is_(None),
        )
    ).scalars()
    return frozenset([str(m) for m in members] + list(values))


def customers_for_alias(session: Session, account_id: uuid.UUID, alias: str) -> list[uuid.UUID]:
    """The customer an alias resolves to, plus its ancestors (whose roll-up sets include it)."""
    customer = by_alias(session, account_id, alias)
    if customer is None:
        return []
    return [customer.id, *ancestors(session, customer.id)]


def archived_among(session: Session, customer_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these customers are archived (one query for a page of invoices)."""
    if not customer_ids:
        return set()
    rows = session.execute(
        select(Customer.id).where(one_of(Customer.id, customer_ids), Customer.archived_at.is_not(None))
    ).scalars()
    return set(rows)


def by_aliases(session: Session, account_id: uuid.UUID, aliases: list[str]) -> list[Customer]:
    """The customers these aliases name, each once, in the aliases' order; unknown aliases name nobody."""
    found: list[Customer] = []
    for alias in aliases:
        customer = by_alias(session, account_id, alias)
        if customer is not None and customer not in found:
            found.append(customer)
    return found


def all_of(session: Session, account_id: uuid.UUID) -> list[Customer]:
    """The account's customers, oldest first."""
    stmt = select(Customer).where(Customer.account_id == account_id).order_by(Customer.created_at, Customer.id)
    return list(session.execute(stmt).scalars())
