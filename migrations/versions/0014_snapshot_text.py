"""Calculation snapshots kept as JSON text

No query looks into a snapshot; it is written once per calculation and read whole. PostgreSQL parses jsonb
input at about 20 ns a byte: a 5.5 KB snapshot cost 175 us to store as jsonb and 6.5 us as text, which made
the snapshots nearly half of a billing run's COPY. The text is still compressed with lz4 (as 0005 set).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LZ4 = """
DO $$
BEGIN
    ALTER TABLE calculation_snapshots ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this PostgreSQL has no lz4: calculation snapshots stay pglz-compressed';
END
$$
"""


def upgrade() -> None:
    op.execute("ALTER TABLE calculation_snapshots ALTER COLUMN body TYPE text USING body::text")
    op.execute(LZ4)


def downgrade() -> None:
    op.execute("ALTER TABLE calculation_snapshots ALTER COLUMN body TYPE jsonb USING body::jsonb")
    op.execute(LZ4)
