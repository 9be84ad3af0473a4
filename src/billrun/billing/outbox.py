"""The webhook outbox: events are written in the transaction of the change they report, so that an event
exists if and only if its change committed, and are delivered by a worker once the transaction has committed.

``publish`` queues an event on the unit of work; at its end, in its transaction, the events of the account's
subscribed endpoints are rendered (their ``data`` is the resource as its GET endpoint serves it then: a
callable is rendered from the final state) and written, with their deliveries, as one ``webhook_outbox`` row
however many there are (a chunk of runs reports one per invoice, and stores each new invoice's row values,
rendered as its GET serves them when fanned out: :class:`InvoiceValues`). The next delivery pass fans the row
out into events and deliveries. Events nobody subscribed to are neither rendered nor stored."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from billrun import jsonutil
from billrun.billing.clock import real_now
from billrun.billing.dispatch import deliver_after_commit
from billrun.domain.statuses import EventType
from billrun.ids import uuid7
from billrun.store import webhooks as webhook_repo
from billrun.store.bulk import values_from_json, values_to_json
from billrun.store.db import before_commit
from billrun.store.models import Invoice
from billrun.views.invoices import invoice_json
from billrun.views.serialize import present, ts

_PENDING = "billrun.outbox"
_SUBSCRIBERS = "billrun.outbox.subscribers"


def publish(
    session: Session, account_id: uuid.UUID, event_type: EventType, data: Data, key: Hashable | None = None
) -> None:
    """Report ``event_type`` if the transaction commits. Events of one type under the same ``key`` (the
    resource's id) are one event: the resource recalculated twice in a transaction is reported once."""
    pending: dict[Hashable, tuple[uuid.UUID, EventType, Data, dt.datetime]] = session.info.setdefault(_PENDING, {})
    pending[object() if key is None else (event_type, key)] = (account_id, event_type, data, real_now())
    before_commit(session, lambda: _write(session), _PENDING)


def subscribed(session: Session, account_ids: Collection[uuid.UUID], event_type: EventType) -> bool:
    """Whether an enabled endpoint of one of these accounts takes ``event_type``: if not, publishing it is
    a no-op, and a batch can skip rendering it."""
    found = _subscribers(session, account_ids)
    return any(not types or event_type in types for a in account_ids for _, types in found[a])


def _subscribers(session: Session, account_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    """The accounts' enabled endpoints, read once per account per transaction."""
    known: dict[uuid.UUID, list[Any]] = session.info.setdefault(_SUBSCRIBERS, {})
    missing = set(account_ids) - known.keys()
    if missing:
        found = webhook_repo.subscribers(session, missing)
        known.update({a: found.get(a, []) for a in missing})
    return known


@dataclass(frozen=True)
class InvoiceValues:
    """An invoice's ``data`` rendered when the outbox is fanned out, from its row's values as written (those
    the resource's GET served at the commit): a chunk's transaction serialises each new invoice's row instead
    of rendering and serialising its resource, about half the cost."""

    values: dict[str, Any]
    customer_archived: bool


#: what ``publish`` takes: the resource, a callable rendering it from the transaction's final state, or the
#: values of an invoice row (rendered when fanned out)
Data = dict[str, Any] | Callable[[], dict[str, Any]] | InvoiceValues


def finish(kind: str, line: str, event_id: str, event_type: str, created_at: str) -> str:
    """The body of an event the outbox holds as ``kind`` (only ``invoice``: :class:`InvoiceValues`)."""
    if kind != "invoice":
        raise ValueError(f"no webhook payload is stored as {kind!r}")
    stored = jsonutil.loads(line)
    invoice: Any = SimpleNamespace(**(_INVOICE_BLANK | values_from_json(Invoice, stored["values"])))
    data = present(invoice_json(invoice, stored["archived"]))
    return _body(event_id, event_type, dt.datetime.fromisoformat(created_at), data)


#: the views read attributes only: plain namespaces, not ORM instances (whose set-up cost as much as the
#: rendering), holding what the COPY stored (NULL where a row names no column and it has no default)
_INVOICE_BLANK = dict.fromkeys(prop.key for prop in sa_inspect(Invoice).column_attrs)


def _body(event_id: str, event_type: str, at: dt.datetime, data: Any) -> str:
    return jsonutil.dumps({"id": event_id, "type": event_type, "createdAt": ts(at), "data": data})


def _write(session: Session) -> None:
    pending = session.info.pop(_PENDING, {})
    if not pending:
        return
    subscribed = _subscribers(session, {account_id for account_id, *_ in pending.values()})
    session.info.pop(_SUBSCRIBERS, None)  # a later transaction of the session reads them afresh
    if not any(subscribed.values()):
        return
    session.flush()  # server defaults (created_at...) are rendered as stored
    events: list[tuple[Any, ...]] = []
    for account_id, event_type, data, at in pending.values():
        targets = [e for e, types in subscribed[account_id] if not types or event_type in types]
        if not targets:
            continue
        event_id = uuid7()
        resource = data() if callable(data) else data
        if isinstance(resource, InvoiceValues):
            archived = "true" if resource.customer_archived else "false"
            line, kind = f'{{"archived":{archived},"values":{values_to_json(resource.values)}}}', "invoice"
        else:
            line, kind = _body(str(event_id), str(event_type), at, present(resource)), None
        events.append((event_id, account_id, str(event_type), line, at, targets, kind))
    if events:
        webhook_repo.write_outbox(session, real_now(), events)
        deliver_after_commit(session)
