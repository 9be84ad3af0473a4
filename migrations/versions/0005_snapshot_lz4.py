"""calculation snapshots compressed with lz4

A snapshot is about 12 KB of JSON (every counted event id, per line). PostgreSQL's default pglz compression
of that text cost ~400 us per invoice on the billing run's COPY, more than everything else PostgreSQL does
for the invoice; lz4 costs less than half. A server built without lz4 keeps pglz (same data, slower).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # only new values use the new method: existing rows stay readable as they are
    op.execute(
        """
        DO $$
        BEGIN
            ALTER TABLE calculation_snapshots ALTER COLUMN body SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported THEN
            RAISE NOTICE 'this PostgreSQL has no lz4: calculation snapshots stay pglz-compressed';
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE calculation_snapshots ALTER COLUMN body SET COMPRESSION default")
