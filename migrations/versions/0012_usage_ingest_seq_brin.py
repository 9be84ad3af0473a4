"""A BRIN index on usage_events.ingest_seq

A calculation records the events it counted as their count, digest and ingest watermark (SPEC §6.7,
revised). Deriving them again needs the events received after the watermark; rows are appended in
ingest_seq order, so a BRIN index finds them for a few pages of index, and costs ingestion next to nothing.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_usage_events_ingest_seq", "usage_events", ["ingest_seq"], postgresql_using="brin")


def downgrade() -> None:
    op.drop_index("ix_usage_events_ingest_seq", table_name="usage_events")
