"""The usage lookup index covers the event id: COUNT metrics aggregate from the index alone

A chunk's usage aggregation walks ix_usage_events_latest_lookup (account, alias, event type, timestamp) and
needs each counted event's id (its count and the digest of SPEC §6.7). Without the id in the index, every
counted event cost a heap page: events arrive in time order across customers, so a customer's month of events
lies on as many pages as it has events. Measured on 1,000,000 events of 10,000 customers, one chunk of 100
customers: 20-33 ms through the heap, 9.4-10.2 ms as an index-only scan (0 heap fetches). SUM, MAX and
UNIQUE metrics and property filters still read each event's properties from the heap.

An index-only scan still visits the heap page of an event on a page the visibility map does not mark
all-visible (a page written or changed since the table's last vacuum), as the plain index scan did: the
README's Operations section has the events table vacuumed before the month's run. Autovacuum's own settings
are left alone (a vacuum that removes re-sent events' old rows scans every index of the table; how often that
would pay was not measured).

The index is built under a new name concurrently (writers are not blocked), then swapped for the old one;
every step may be run again, so an interrupted upgrade is finished by running it again.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_usage_events_latest_lookup"
COLUMNS = "account_id, customer_alias, event_type, event_timestamp"


def _rebuild(include: str) -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_usage_events_latest_lookup_new")
        op.execute(
            f"CREATE INDEX CONCURRENTLY ix_usage_events_latest_lookup_new ON usage_events ({COLUMNS}) "
            f"{include} WHERE is_latest"
        )
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")  # gone already if a first attempt stopped here
        op.execute(f"ALTER INDEX ix_usage_events_latest_lookup_new RENAME TO {NAME}")


def upgrade() -> None:
    _rebuild("INCLUDE (id)")


def downgrade() -> None:
    _rebuild("")
