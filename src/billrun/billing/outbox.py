"""The webhook outbox: an event is written in the transaction of the change it reports, so that it exists if
and only if the change committed, and is delivered by a worker once the transaction has committed.

``publish`` queues an event on the unit of work; at its end, in its transaction, the events of the account's
subscribed endpoints are rendered (their ``data`` is the resource as its GET endpoint serves it then: a
callable is rendered from the final state) and written with one COPY per table however many there are (a
chunk of runs writes one per invoice). Events nobody subscribed to are not rendered nor stored."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy.orm import Session

from billrun import jsonutil
from billrun.billing.clock import real_now
from billrun.billing.dispatch import deliver_after_commit
from billrun.domain.statuses import EventType
from billrun.ids import uuid7
from billrun.store import webhooks as webhook_repo
from billrun.store.db import before_commit
from billrun.views.serialize import present, ts

Data = dict[str, Any] | Callable[[], dict[str, Any]]
_PENDING = "billrun.outbox"


def publish(
    session: Session, account_id: uuid.UUID, event_type: EventType, data: Data, key: Hashable | None = None
) -> None:
    """Report ``event_type`` if the transaction commits. Events of one type under the same ``key`` (the
    resource's id) are one event: the resource recalculated twice in a transaction is reported once."""
    pending: dict[Hashable, tuple[uuid.UUID, EventType, Data, dt.datetime]] = session.info.setdefault(_PENDING, {})
    pending[object() if key is None else (event_type, key)] = (account_id, event_type, data, real_now())
    before_commit(session, lambda: _write(session), _PENDING)


def once(render: Callable[[], dict[uuid.UUID, dict[str, Any]]]) -> Callable[[uuid.UUID], Callable[[], dict[str, Any]]]:
    """Per-resource renderers sharing one batch rendering, made the first time any of them is called (a
    chunk's invoices are rendered with one query, and not at all when nobody subscribed)."""
    cache: list[dict[uuid.UUID, dict[str, Any]]] = []

    def of(resource_id: uuid.UUID) -> Callable[[], dict[str, Any]]:
        def data() -> dict[str, Any]:
            if not cache:
                cache.append(render())
            return cache[0][resource_id]

        return data

    return of


def _write(session: Session) -> None:
    pending = session.info.pop(_PENDING, {})
    if not pending:
        return
    subscribed = webhook_repo.subscribers(session, {account_id for account_id, *_ in pending.values()})
    if not subscribed:
        return
    session.flush()  # server defaults (created_at...) are rendered as stored
    events: list[tuple[Any, ...]] = []
    deliveries: list[tuple[Any, ...]] = []
    for account_id, event_type, data, at in pending.values():
        targets = [e for e, types in subscribed.get(account_id, ()) if not types or event_type in types]
        if not targets:
            continue
        event_id = uuid7()
        resource = data() if callable(data) else data
        body = jsonutil.dumps(
            {"id": str(event_id), "type": str(event_type), "createdAt": ts(at), "data": present(resource)}
        )
        events.append((event_id, account_id, str(event_type), body, at))
        deliveries += [(uuid7(), account_id, event_id, endpoint, str(event_type), at) for endpoint in targets]
    if events:
        webhook_repo.write_outbox(session, events, deliveries)
        deliver_after_commit(session)
