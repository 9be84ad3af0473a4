"""The last-wins id tables dropped: advisory locks on buckets of ids serialise concurrent writers of an id

usage_event_ids and seat_event_ids held the highest ingestSeq per customerEventId; upserting every event's id
into them serialised concurrent writers of an id, at a heap and an index write per event (10.7 of the 43 µs an
event cost the batch path). Ingestion now takes transaction-scoped advisory locks on buckets of a batch's ids,
draws its ingestSeq values under them and retires each id's previous winner by an index probe
(store/events.py). The is_latest flags already hold the winners, so no data moves; the downgrade rebuilds the
tables from the events.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (("usage_event_ids", "usage_events"), ("seat_event_ids", "seat_events"))


def upgrade() -> None:
    for ids_table, _ in TABLES:
        op.drop_table(ids_table)


def downgrade() -> None:
    for ids_table, events in TABLES:
        op.create_table(
            ids_table,
            sa.Column("account_id", sa.Uuid(), nullable=False),
            sa.Column("customer_event_id", sa.String(length=255), nullable=False),
            sa.Column("latest_seq", sa.BigInteger(), nullable=False),
            sa.ForeignKeyConstraint(
                ["account_id"], ["accounts.id"], name=op.f(f"fk_{ids_table}_account_id_accounts"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("account_id", "customer_event_id", name=op.f(f"pk_{ids_table}")),
        )
        op.execute(
            f"INSERT INTO {ids_table} (account_id, customer_event_id, latest_seq) "
            f"SELECT account_id, customer_event_id, max(ingest_seq) FROM {events} GROUP BY 1, 2"
        )
