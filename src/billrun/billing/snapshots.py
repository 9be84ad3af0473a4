"""Recompute an invoice from its audit snapshot alone (SPEC §6.7): the schedule, prices, tax rates, tax
status and every metric value and seat timeline the calculation read are in the snapshot, so the domain
core can be replayed without the database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from billrun.domain.inputs import (
    ScheduleSpec,
    TaxRateRef,
    TaxStatus,
    phases_from_json,
    price_from_json,
)
from billrun.domain.invoice import InvoiceDraft, compute_invoice
from billrun.domain.periods import DateRange
from billrun.domain.seats import SeatTimeline
from billrun.domain.usage import ZERO_USAGE, UsageValue


def _date(raw: str | None) -> dt.date | None:
    return dt.date.fromisoformat(raw) if raw else None


def _window(raw: list[str]) -> DateRange:
    return DateRange(dt.date.fromisoformat(raw[0]), dt.date.fromisoformat(raw[1]))


class SnapshotData:
    """Rating data served from the values recorded in a snapshot."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.usage_values = {
            (u["metricId"], _window(u["window"])): UsageValue(
                Decimal(u["value"]), u["eventCount"], u["invalidPropertyValues"]
            )
            for u in body.get("usage", [])
        }
        self.values = {
            (v["metricId"], _window(v["window"])): tuple(None if x is None else Decimal(x) for x in v["values"])
            for v in body.get("eventValues", [])
        }
        self.timelines = {
            seat_type: SeatTimeline(tuple((dt.datetime.fromisoformat(ts), int(total)) for ts, total in changes))
            for seat_type, changes in body.get("seatTimelines", {}).items()
        }

    def usage(self, metric_id: str, window: DateRange) -> UsageValue:
        return self.usage_values.get((metric_id, window), ZERO_USAGE)

    def event_values(self, metric_id: str, window: DateRange) -> tuple[Decimal | None, ...]:
        return self.values.get((metric_id, window), ())

    def seat_timeline(self, seat_type: str) -> SeatTimeline:
        return self.timelines.get(seat_type, SeatTimeline(()))


def schedule_from_snapshot(body: dict[str, Any]) -> ScheduleSpec:
    schedule = body["schedule"]
    seat_types = body.get("seatTypes", {})
    prices = {}
    for p in body["prices"]:
        metric_id = p["structure"].get("seatMetricId")
        prices[p["id"]] = price_from_json(
            p["id"],
            p["name"],
            p["currency"],
            p["structure"],
            p["billingFrequency"],
            p["billingType"],
            product_id=p["productId"],
            usage_calculation_period=p.get("usageCalculationPeriod"),
            seat_types={metric_id: seat_types.get(p["id"], metric_id)} if metric_id else None,
        )
    phases = phases_from_json(schedule["phases"])
    tax_rates = {
        t["priceId"]: TaxRateRef(t["taxRateId"], Decimal(t["amount"]), t["versionId"], t["version"])
        for t in body["taxRates"]
    }
    return ScheduleSpec(
        schedule["id"],
        dt.date.fromisoformat(schedule["startDate"]),
        _date(schedule["endDate"]),
        schedule["recurrenceDayOfMonth"],
        phases,
        prices,
        schedule["currency"],
        tax_rates,
        schedule["rollUpBilling"],
    )


def expand_snapshot(body: dict[str, Any]) -> dict[str, Any]:
    """The snapshot as served. Snapshots written before digests (SPEC §6.7, revised) list the counted events'
    ids, and a line whose ids another line of the same calculation already lists (the tiers of one price) is
    stored as ``{"sameAsLine": k}``, which becomes that line's ids."""
    lines = body.get("lines", [])
    by_index = {line["index"]: line for line in lines}
    expanded = []
    for line in lines:
        ids = line["derivation"].get("eventIds")
        if isinstance(ids, dict) and "sameAsLine" in ids:
            line = {
                **line,
                "derivation": {**line["derivation"], "eventIds": by_index[ids["sameAsLine"]]["derivation"]["eventIds"]},
            }
        expanded.append(line)
    return {**body, "lines": expanded}


def recompute(body: dict[str, Any]) -> InvoiceDraft:
    """The invoice draft the snapshot describes, recomputed by the domain core."""
    spec = schedule_from_snapshot(body)
    data = SnapshotData(body)
    drafting_date = dt.date.fromisoformat(body["draftingDate"])
    on_demand: dict[str, frozenset[dt.date]] = {}
    for line in body["lines"]:
        if line["priceId"] and spec.prices[line["priceId"]].is_on_demand and line["servicePeriod"]:
            day = dt.date.fromisoformat(line["servicePeriod"][0])
            on_demand[line["priceId"]] = on_demand.get(line["priceId"], frozenset()) | {day}
    return compute_invoice(spec, drafting_date, data, TaxStatus(body["customer"]["taxStatus"]), on_demand)
