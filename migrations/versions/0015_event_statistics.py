"""Event tables analysed after every 50,000 changed rows, however large they are

PostgreSQL re-analyses a table once a tenth of it has changed. In a large usage_events table an account that
joined since the last ANALYZE stays unknown to the planner for millions of events: it estimates one row for
the account, and the usage aggregations (and the last-wins bookkeeping) then read all of the account's events
through the first index on account_id and filter them, instead of probing (account, alias, event type,
window). Measured with 20,000 events of such an account: the chunk's aggregation of three windows 119 ms
instead of under 1 ms, growing with the account. A fixed threshold keeps the statistics at most 50,000 events
(and an autovacuum naptime) behind; each ANALYZE reads a sample of 30,000 rows, whatever the table's size.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("usage_events", "seat_events")


def upgrade() -> None:
    for table in TABLES:
        op.execute(
            f"ALTER TABLE {table} SET (autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 50000)"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)")
