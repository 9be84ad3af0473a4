"""The webhook outbox as one row per transaction

A chunk of billing runs reports an ``invoice.drafted`` per invoice. Writing each event and each delivery as
rows of their own in the chunk's transaction (their indexes, their foreign-key triggers) cost the chunk more
than the rest of the webhook work together; the transaction now writes one row holding them all, and the next
delivery pass fans it out into ``webhook_events`` and ``webhook_deliveries``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_outbox")),
    )
    # a chunk's row is megabytes of JSON: lz4 compresses it for a fraction of pglz's cost (as 0005 did)
    op.execute(
        """
        DO $$
        BEGIN
            ALTER TABLE webhook_outbox ALTER COLUMN content SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported THEN
            RAISE NOTICE 'this PostgreSQL has no lz4: the webhook outbox stays pglz-compressed';
        END
        $$
        """
    )


def downgrade() -> None:
    # events not fanned out yet are dropped with it: downgrade once `billrun webhooks pending` shows none waiting
    op.drop_table("webhook_outbox")
