"""Why an invoice is what it is (``GET /invoices/{id}/explanation``): its latest calculation replayed from
the audit snapshot (SPEC §6.7), never from today's data, each line explained by :mod:`billrun.domain.explain`
with the price, the metric and the first events it counted; and the events of a line, page by page."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sqlalchemy.orm import Session

from billrun.billing.snapshots import SnapshotData, expand_snapshot, recompute, schedule_from_snapshot
from billrun.domain.explain import explain, explain_manual
from billrun.domain.inputs import TaxStatus, metric_from_json
from billrun.domain.invoice import InvoiceLine
from billrun.domain.money import money_str
from billrun.domain.periods import DateRange
from billrun.domain.usage import event_digest, numeric_value
from billrun.store import invoices as invoice_repo
from billrun.store import usage as usage_repo
from billrun.store.models import Invoice, InvoiceLineItem
from billrun.views.serialize import ts

#: events listed inline per line; the rest are paged through ``…/lines/{lineId}/events``
FIRST_EVENTS = 100


@dataclass(frozen=True)
class CountedEvents:
    """The usage events a line counted, in ingest order. A snapshot that recorded them as a digest (SPEC §6.7,
    revised) is resolved by deriving the set again at its watermark: ``verified`` says whether the derived
    set matches the digest, ``changed_since`` whether events received since would change it (None where the
    snapshot listed the ids)."""

    ids: list[str]
    metric: dict[str, Any] | None
    verified: bool = True
    changed_since: bool | None = None


def _manual_line(line: InvoiceLineItem) -> InvoiceLine:
    service = (
        DateRange(line.service_period_start, line.service_period_end)
        if line.service_period_start and line.service_period_end
        else None
    )
    return InvoiceLine(
        line.index,
        line.kind,
        line.title,
        line.description,
        Fraction(line.quantity),
        Fraction(line.rate),
        line.rate_display,
        line.discount_total,
        line.net_total,
        line.tax_rate,
        str(line.tax_rate_id) if line.tax_rate_id else None,
        line.total_tax,
        line.gross_total,
        None,
        None,
        service,
    )


def _snapshot_line(body: dict[str, Any], index: int) -> dict[str, Any] | None:
    return next((ln for ln in body.get("lines", []) if ln["index"] == index), None)


def _metric_of(body: dict[str, Any], price_id: str | None) -> dict[str, Any] | None:
    price = next((p for p in body.get("prices", []) if p["id"] == price_id), None)
    metric_id = price["structure"].get("usageMetricId") if price else None
    return next((m for m in body.get("usageMetrics", []) if m["id"] == metric_id), None)


def counted_events(
    s: Session, account_id: uuid.UUID, body: dict[str, Any], index: int, derived: dict[Any, Any] | None = None
) -> CountedEvents | None:
    """The events line ``index`` counted in its own window (None: a line that counts no events). ``derived``
    keeps the sets already derived: the tiers of one price share theirs."""
    line = _snapshot_line(body, index)
    if line is None or "window" not in line["derivation"]:
        return None
    metric = _metric_of(body, line["priceId"])
    derivation = line["derivation"]
    listed = derivation.get("eventIds")
    if isinstance(listed, list):  # written before digests
        return CountedEvents(listed, metric)
    assert metric is not None
    window = DateRange(*(dt.date.fromisoformat(x) for x in derivation["window"]))
    aliases = body["customer"]["aliases"]
    spec = metric_from_json(metric["id"], metric)
    if listed is not None:  # the SHA-256 of a large set, before watermarks: compared with today's set
        ids = list(usage_repo.aggregate(s, account_id, spec, aliases, window, with_ids=True).event_ids)
        digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
        return CountedEvents(ids, metric, verified=digest == listed.get("sha256"))
    mark = derivation["ingestWatermark"]
    derived = {} if derived is None else derived
    key = (metric["id"], window, mark)
    if key not in derived:
        derived[key] = usage_repo.events_as_of(s, account_id, spec, aliases, window, mark)
    ids, changed = derived[key]
    verified = len(ids) == derivation["eventCount"] and event_digest(ids) == derivation["eventDigest"]
    return CountedEvents(ids, metric, verified, changed)


def event_rows(
    s: Session, account_id: uuid.UUID, counted: CountedEvents, start: int, limit: int
) -> list[dict[str, Any]]:
    """Events ``start`` to ``start + limit`` of a line, with the value the metric read from each."""
    ids = counted.ids[start : start + limit]
    return _event_json(usage_repo.events_by_ids(s, account_id, ids), counted.metric)


def _event_json(rows: list[Any], metric: dict[str, Any] | None) -> list[dict[str, Any]]:
    metric = metric or {}
    prop = None if metric.get("aggregationType") == "COUNT" else metric.get("aggregationProperty")
    return [
        {
            "id": row.id,
            "customerEventId": row.customer_event_id,
            "customerAlias": row.customer_alias,
            "eventType": row.event_type,
            "eventTimestamp": ts(row.event_timestamp),
            "value": _value(row.event_properties, prop),
            "superseded": not row.is_latest,
        }
        for row in rows
    ]


def _value(properties: dict[str, Any], prop: str | None) -> Any:
    """What the metric read from the event: 1 for a count, the number for SUM and MAX (None when invalid),
    the value itself for UNIQUE."""
    if not prop:
        return "1"
    raw = properties.get(prop)
    value = numeric_value(raw)
    return format(value, "f") if value is not None else raw


def explain_invoice(s: Session, invoice: Invoice) -> dict[str, Any]:
    """The explanation of ``invoice`` as served (JSON; the HTML view renders the same)."""
    snapshot, calculations = invoice_repo.latest_snapshot(s, invoice.id)
    stored = invoice_repo.lines_of(s, invoice.id)
    tax_status = TaxStatus(invoice.customer_tax_status or TaxStatus.TAXED)
    explained: dict[int, dict[str, Any]] = {}
    body: dict[str, Any] = {}
    calculation = None
    if snapshot is not None:
        body = expand_snapshot(snapshot.body)
        draft = recompute(body)
        explained = {e["index"]: e for e in explain(schedule_from_snapshot(body), draft, SnapshotData(body))}
        calculation = {
            "createdAt": ts(snapshot.created_at),
            "calculations": calculations,
            "billingRunId": body.get("billingRunId"),
            "trigger": body.get("trigger"),
            "engineVersion": body.get("engineVersion"),
            "clock": body.get("clock"),
            "draftingDate": body.get("draftingDate"),
            "recomputed": {
                "netTotal": money_str(draft.net_total, invoice.currency),
                "totalTax": money_str(draft.total_tax, invoice.currency),
                "grossTotal": money_str(draft.gross_total, invoice.currency),
            },
        }
    prices = {p["id"]: p for p in body.get("prices", [])}
    counted = _counted_by_line(s, invoice, stored, body) if snapshot is not None else {}
    lines = []
    for line in stored:
        engine = line.source == "ENGINE" and line.index in explained
        e = explained[line.index] if engine else explain_manual(_manual_line(line), invoice.currency, tax_status)
        e = {"id": str(line.id), "source": line.source, **e}
        e["matchesInvoice"] = (e["netTotal"], e["tax"]["amount"], e["grossTotal"]) == tuple(
            money_str(v, invoice.currency) for v in (line.net_total, line.total_tax, line.gross_total)
        )
        if engine:
            price = prices.get(e["priceId"] or "")
            if price:
                e["price"] = price
            if line.index in counted:
                events, first = counted[line.index]
                e["metric"] = events.metric
                e["events"] = {
                    "count": len(events.ids),
                    "verified": events.verified,
                    "changedSince": events.changed_since,
                    "first": first,
                }
        lines.append(e)
    return {
        "invoiceId": str(invoice.id),
        "invoiceNumber": invoice.invoice_number,
        "status": invoice.status,
        "currency": invoice.currency,
        "customerTaxStatus": tax_status.value,
        "calculation": calculation,
        "lines": lines,
        "netTotal": money_str(invoice.net_total, invoice.currency),
        "totalTax": money_str(invoice.total_tax, invoice.currency),
        "grossTotal": money_str(invoice.gross_total, invoice.currency),
        "matchesInvoice": all(e["matchesInvoice"] for e in lines),
    }


def _counted_by_line(
    s: Session, invoice: Invoice, stored: list[InvoiceLineItem], body: dict[str, Any]
) -> dict[int, tuple[CountedEvents, list[dict[str, Any]]]]:
    """Per engine line that counts events: those events and the first of them as served, read in one query
    for the whole invoice (an invoice may hold 1,000 lines)."""
    derived: dict[Any, Any] = {}
    counted = {}
    for line in stored:
        if line.source == "ENGINE":
            events = counted_events(s, invoice.account_id, body, line.index, derived)
            if events is not None:
                counted[line.index] = events
    wanted = sorted({i for events in counted.values() for i in events.ids[:FIRST_EVENTS]})
    rows = {row.id: row for row in usage_repo.events_by_ids(s, invoice.account_id, wanted)}
    return {
        index: (events, _event_json([rows[i] for i in events.ids[:FIRST_EVENTS] if i in rows], events.metric))
        for index, events in counted.items()
    }


def line_events(s: Session, invoice: Invoice, line: InvoiceLineItem) -> CountedEvents | None:
    """The events an engine line counted in its latest calculation (None: the line counts no events)."""
    snapshot, _ = invoice_repo.latest_snapshot(s, invoice.id)
    if snapshot is None or line.source != "ENGINE":
        return None
    return counted_events(s, invoice.account_id, expand_snapshot(snapshot.body), line.index)
