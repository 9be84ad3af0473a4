"""What accepted events change: every new event, override or VOID asks for the affected DRAFT invoices to be
recalculated (SPEC §5.7), by the aliases and times of the events and of the rows they superseded."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy.orm import Session

from billrun.billing import recalculation
from billrun.domain.usage import VOID_ALIAS
from billrun.store.events import NewSeatEvent, NewUsageEvent, Superseded


def request_for_events(
    session: Session,
    account_id: uuid.UUID,
    events: Iterable[NewUsageEvent | NewSeatEvent],
    superseded: Iterable[Superseded],
) -> None:
    by_alias: dict[str, list[dt.datetime]] = {}
    for event in events:
        by_alias.setdefault(event.customer_alias, []).append(event.event_timestamp)
    for old in superseded:
        by_alias.setdefault(old.customer_alias, []).append(old.event_timestamp)
    by_alias.pop(VOID_ALIAS, None)  # a VOIDed event matches no customer; what it superseded is counted above
    recalculation.request_for_aliases(session, account_id, by_alias)
