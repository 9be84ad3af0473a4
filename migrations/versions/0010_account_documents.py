"""The seller's details on invoice documents

An invoice rendered as HTML or PDF names its seller: the account's legal name, address, tax id and logo, and
formats amounts for the account's locale on its paper size. Existing accounts get en-GB on A4 and no seller
details (the document then shows the account's name).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("legal_name", sa.String(255), nullable=True))
    op.add_column("accounts", sa.Column("address", sa.Text(), nullable=True))
    op.add_column("accounts", sa.Column("tax_id", sa.String(64), nullable=True))
    op.add_column("accounts", sa.Column("logo_url", sa.String(2048), nullable=True))
    op.add_column("accounts", sa.Column("locale", sa.String(16), nullable=False, server_default="en-GB"))
    op.add_column("accounts", sa.Column("paper_size", sa.String(8), nullable=False, server_default="A4"))


def downgrade() -> None:
    for column in ("paper_size", "locale", "logo_url", "tax_id", "address", "legal_name"):
        op.drop_column("accounts", column)
