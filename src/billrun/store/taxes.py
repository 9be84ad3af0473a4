"""Tax-rate versions: the current version of a rate is its highest published one (SPEC §2.10)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from billrun.store.common import one_of
from billrun.store.models import TaxRateVersion


def versions(session: Session, tax_rate_id: uuid.UUID) -> list[TaxRateVersion]:
    return list(
        session.execute(
            select(TaxRateVersion).where(TaxRateVersion.tax_rate_id == tax_rate_id).order_by(TaxRateVersion.version)
        ).scalars()
    )


def latest_version(session: Session, tax_rate_id: uuid.UUID) -> TaxRateVersion:
    return versions(session, tax_rate_id)[-1]


def current_versions(session: Session, tax_rate_ids: list[uuid.UUID]) -> dict[uuid.UUID, TaxRateVersion]:
    """The highest published version of each rate; rates without one are absent."""
    if not tax_rate_ids:
        return {}
    rows = session.execute(
        select(TaxRateVersion)
        .where(one_of(TaxRateVersion.tax_rate_id, tax_rate_ids), TaxRateVersion.is_published.is_(True))
        .order_by(TaxRateVersion.tax_rate_id, TaxRateVersion.version.desc())
        .distinct(TaxRateVersion.tax_rate_id)
    ).scalars()
    return {row.tax_rate_id: row for row in rows}
