"""per-customerEventId latest sequence tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table, fk in (
        ("usage_event_ids", "fk_usage_event_ids_account_id_accounts"),
        ("seat_event_ids", "fk_seat_event_ids_account_id_accounts"),
    ):
        op.create_table(
            table,
            sa.Column("account_id", sa.Uuid(), nullable=False),
            sa.Column("customer_event_id", sa.String(length=255), nullable=False),
            sa.Column("latest_seq", sa.BigInteger(), nullable=False),
            sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f(fk), ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("account_id", "customer_event_id", name=op.f(f"pk_{table}")),
        )
    op.create_index("ix_seat_events_account_customer_event_id", "seat_events", ["account_id", "customer_event_id"])


def downgrade() -> None:
    op.drop_index("ix_seat_events_account_customer_event_id", table_name="seat_events")
    op.drop_table("seat_event_ids")
    op.drop_table("usage_event_ids")
