"""billrun_casefold(): Unicode case folding in SQL, equal to Python's NFKC + str.casefold()

Case-insensitive metric filters (SPEC §5.5) fold both sides. PostgreSQL's lower() follows the database
locale (ASCII only under C), so the folding table is generated from Python's own Unicode data: single-code
point folds in one translate(), the multi-character ones (ß -> ss, ...) as replace() calls.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def casefold_sql() -> str:
    singles_from, singles_to, multi = [], [], []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF or code == 0:
            continue
        folded = char.casefold()
        if folded == char:
            continue
        if len(folded) == 1:
            singles_from.append(char)
            singles_to.append(folded)
        else:
            multi.append((char, folded))
    expression = "normalize($1, NFKC)"
    for char, folded in multi:
        expression = f"replace({expression}, {_literal(char)}, {_literal(folded)})"
    expression = f"translate({expression}, {_literal(''.join(singles_from))}, {_literal(''.join(singles_to))})"
    return (
        "CREATE OR REPLACE FUNCTION billrun_casefold(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT "
        f"PARALLEL SAFE AS $fold$ SELECT {expression} $fold$"
    )


def upgrade() -> None:
    op.execute(casefold_sql())


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS billrun_casefold(text)")
