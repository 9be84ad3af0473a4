"""Tax rates change bills (SPEC §2.6, §5.7): an edit publishes a new version, which the live invoices of every
schedule mapping the rate are recalculated with; a rate in use is archived, never deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billrun.billing import recalculation
from billrun.billing.clock import real_now
from billrun.billing.errors import Refused
from billrun.store import catalog
from billrun.store.models import TaxRate, TaxRateVersion


def publish_version(session: Session, rate: TaxRate, latest: TaxRateVersion, fields: dict[str, Any]) -> TaxRateVersion:
    """The version after ``latest`` with ``fields``; the schedules using the rate recalculate their live
    invoices."""
    version = TaxRateVersion(account_id=rate.account_id, tax_rate_id=rate.id, version=latest.version + 1, **fields)
    session.add(version)
    rate.updated_at = real_now()
    session.flush()
    recalculation.request_for_tax_rate(session, rate.account_id, rate.id)
    return version


def delete(session: Session, rate: TaxRate) -> None:
    if catalog.tax_rate_in_use(session, rate.account_id, rate.id):
        raise Refused("a billing schedule or an invoice line uses this tax rate; archive it instead", "inUse")
    session.delete(rate)
