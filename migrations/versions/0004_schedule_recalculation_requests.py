"""schedule-level recalculation requests for runs in flight

A late event whose schedule has a run queued or executing cannot name that run's invoice yet (it is not
committed): the request is kept per schedule until the runs settle (SPEC §5.7).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule_recalculation_requests",
        sa.Column("billing_schedule_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("after_date", sa.Date(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_schedule_recalculation_requests_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["billing_schedule_id"],
            ["billing_schedules.id"],
            name=op.f("fk_schedule_recalculation_requests_billing_schedule_id_billing_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("billing_schedule_id", name=op.f("pk_schedule_recalculation_requests")),
    )
    op.create_index(
        op.f("ix_schedule_recalculation_requests_account_id"),
        "schedule_recalculation_requests",
        ["account_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_schedule_recalculation_requests_account_id"), table_name="schedule_recalculation_requests")
    op.drop_table("schedule_recalculation_requests")
