"""Sequence fields that billrun keeps but does not act on

Sequence's documented requests carry fields for features billrun does not implement yet (custom metric
parameters, list prices, attachments, custom fields, phase metadata, shipping addresses...). SPEC §9 stores them
inert: ``sequence_fields`` holds them verbatim, by their Sequence name, and responses serve them back.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("prices", "customers", "billing_schedules", "schedule_phases", "invoices", "invoice_line_items")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table, sa.Column("sequence_fields", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "sequence_fields")
