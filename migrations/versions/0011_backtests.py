"""Pricing backtests

A backtest re-rates a span of drafting dates twice, as billed and with replacement prices, and keeps only its
result: one row per schedule and drafting date with the two net totals.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backtests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("request", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("schedules_total", sa.Integer(), nullable=False),
        sa.Column("schedules_done", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.Uuid(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_backtests_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtests")),
    )
    op.create_index(op.f("ix_backtests_account_id"), "backtests", ["account_id"])
    op.create_table(
        "backtest_rows",
        sa.Column("backtest_id", sa.Uuid(), nullable=False),
        sa.Column("billing_schedule_id", sa.Uuid(), nullable=False),
        sa.Column("drafting_date", sa.Date(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("old_net", sa.Numeric(), nullable=False),
        sa.Column("new_net", sa.Numeric(), nullable=False),
        sa.ForeignKeyConstraint(
            ["backtest_id"], ["backtests.id"], name=op.f("fk_backtest_rows_backtest_id_backtests"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("backtest_id", "billing_schedule_id", "drafting_date", name=op.f("pk_backtest_rows")),
    )


def downgrade() -> None:
    op.drop_table("backtest_rows")
    op.drop_index(op.f("ix_backtests_account_id"), table_name="backtests")
    op.drop_table("backtests")
