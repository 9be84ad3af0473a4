"""Concise builders for domain inputs, following SPEC §8's defaults: GBP, recurrence day 1, start
2024-01-01, open-ended, one phase listing all prices, MONTHLY IN_ARREARS, 0% tax."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from billrun.domain.inputs import (
    AggregationType,
    MetricSpec,
    Phase,
    PriceSpec,
    ScheduleSpec,
    TaxRateRef,
    TaxStatus,
    price_from_json,
)
from billrun.domain.invoice import InvoiceDraft, compute_invoice
from billrun.domain.memory import InMemoryData
from billrun.domain.money import plain_str
from billrun.domain.seats import SeatEventRecord
from billrun.domain.usage import UsageEventRecord

CUSTOMER = "cust-1"
_seq = itertools.count(1)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def price(
    pid: str,
    structure: Mapping[str, Any],
    *,
    name: str | None = None,
    frequency: str = "MONTHLY",
    billing_type: str = "IN_ARREARS",
    currency: str = "GBP",
    product: str | None = None,
    usage_calculation_period: Mapping[str, Any] | None = None,
) -> PriceSpec:
    return price_from_json(
        pid,
        name or pid,
        currency,
        structure,
        frequency,
        billing_type,
        product_id=product or pid,
        usage_calculation_period=usage_calculation_period,
    )


def fixed(pid: str, amount: str, **kw: Any) -> PriceSpec:
    return price(pid, {"pricingType": "FIXED", "price": amount}, **kw)


def metric(
    mid: str,
    aggregation: str = "COUNT",
    prop: str | None = None,
    event_type: str | None = None,
    *,
    filters: Mapping[str, tuple[str, ...]] | None = None,
    **kw: Any,
) -> MetricSpec:
    return MetricSpec(mid, event_type or mid, AggregationType(aggregation), prop, filters or {}, **kw)


def schedule(
    prices: Sequence[PriceSpec],
    *,
    start: str = "2024-01-01",
    end: str | None = None,
    r: int | None = 1,
    phases: Sequence[Phase] | None = None,
    tax: Mapping[str, str] | None = None,
    currency: str | None = None,
    roll_up: bool = False,
) -> ScheduleSpec:
    start_date = d(start)
    end_date = d(end) if end else None
    phase_list = tuple(phases) if phases else (Phase(start_date, end_date, tuple(p.id for p in prices)),)
    tax_rates = {pid: TaxRateRef(f"tax-{amount}", Decimal(amount)) for pid, amount in (tax or {}).items()}
    return ScheduleSpec(
        "sched-1",
        start_date,
        end_date,
        r or start_date.day,
        phase_list,
        {p.id: p for p in prices},
        currency or prices[0].currency,
        tax_rates,
        roll_up,
    )


def usage(
    event_type: str, when: str, alias: str = CUSTOMER, event_id: str | None = None, **props: Any
) -> UsageEventRecord:
    seq = next(_seq)
    # ids are UUIDs, as billrun stores them: the counted events' digest reads their low 64 bits
    return UsageEventRecord(seq, event_id or f"gen-{seq}", alias, event_type, ts(when), props, str(uuid.UUID(int=seq)))


def spread(event_type: str, month: str, count: int, **props: Any) -> list[UsageEventRecord]:
    """``count`` events spread over the days of ``month`` (YYYY-MM)."""
    first = d(f"{month}-01")
    return [usage(event_type, f"{first + dt.timedelta(days=i % 28)}T12:00:00Z", **props) for i in range(count)]


def seat(seat_type: str, when: str, total: int, alias: str = CUSTOMER, event_id: str | None = None) -> SeatEventRecord:
    seq = next(_seq)
    return SeatEventRecord(seq, event_id or f"seat-{seq}", alias, seat_type, ts(when), total, f"s{seq}")


def data(
    metrics: Iterable[MetricSpec] = (),
    usage_events: Iterable[UsageEventRecord] = (),
    seat_events: Iterable[SeatEventRecord] = (),
    aliases: Iterable[str] = (CUSTOMER,),
) -> InMemoryData:
    return InMemoryData({m.id: m for m in metrics}, frozenset(aliases), list(usage_events), list(seat_events))


def invoice(
    sched: ScheduleSpec,
    drafting: str,
    source: InMemoryData | None = None,
    status: TaxStatus = TaxStatus.TAXED,
    on_demand_days: Mapping[str, frozenset[dt.date]] | None = None,
) -> InvoiceDraft:
    return compute_invoice(sched, d(drafting), source or data(), status, on_demand_days)


def rows(draft: InvoiceDraft) -> list[tuple[str, str, str, str, str]]:
    """(title, quantity, rate, net, tax) per line, as the API prints them."""
    return [
        (ln.title, plain_str(ln.quantity), plain_str(ln.rate), str(ln.net_total), str(ln.total_tax))
        for ln in draft.lines
    ]


def totals(draft: InvoiceDraft) -> tuple[str, str, str]:
    return (str(draft.net_total), str(draft.total_tax), str(draft.gross_total))


def period(draft: InvoiceDraft) -> tuple[str, str]:
    assert draft.billing_period is not None
    return (draft.billing_period.start.isoformat(), draft.billing_period.end.isoformat())


F = Fraction
