"""The invoice pipeline (SPEC §4.12): due items -> exact lines -> rounding -> discounts -> true-ups -> tax
-> totals. The invoice for D is a pure function of its inputs.

Discount and tax worked example (SPEC §8 E3 (a) and E15 (b)):

    Platform £500 from 2024-04-16: 500 x 15/30 = 250.00; "10% off" -> round(250 x 10/100) = 25.00
    Four £17.50 lines at 7%: each tax round(1.225) = 1.23, so totalTax = 4.92 (not round(70 x 0.07) = 4.90)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from billrun.domain.drafting import (
    DueItem,
    ItemKind,
    accounting_date,
    billing_period,
    due_items,
    items_due_on,
    minimum_prices,
)
from billrun.domain.inputs import DiscountType, ScheduleSpec, TaxRateRef, TaxStatus
from billrun.domain.money import round_money, round_money_product
from billrun.domain.periods import DateRange, proration_factor
from billrun.domain.pricing import ExactLine, RatingData, rate_item

MAX_LINES = 1000


class SafetyBoundExceeded(Exception):
    """A permanent run failure: the invoice would break a safety bound of SPEC §6.6."""


@dataclass(frozen=True)
class InvoiceLine:
    index: int
    kind: str
    title: str
    description: str | None
    quantity: Fraction
    rate: Fraction
    rate_display: str
    discount_total: Decimal
    net_total: Decimal
    tax_rate: Decimal
    tax_rate_id: str | None
    total_tax: Decimal
    gross_total: Decimal
    price_id: str | None
    product_id: str | None
    service_period: DateRange | None
    tier: int | None = None
    detail: str = ""
    derivation: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LineGroup:
    product_id: str
    index: int
    net_total: Decimal
    total_tax: Decimal
    gross_total: Decimal


@dataclass(frozen=True)
class InvoiceDraft:
    drafting_date: dt.date
    currency: str
    customer_tax_status: TaxStatus
    lines: tuple[InvoiceLine, ...]
    groups: tuple[LineGroup, ...]
    billing_period: DateRange | None
    accounting_date: dt.date | None
    net_total: Decimal
    total_tax: Decimal
    gross_total: Decimal
    warnings: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """No line at all: only ON_DEMAND runs end this way, and they persist no invoice (SPEC §4.4)."""
        return not self.lines


@dataclass
class _Working:
    """A charge line between rating and tax: the rounded net and the discounts taken from it."""

    item: DueItem
    line: ExactLine
    rounded: Decimal
    current: Decimal  # net after the discounts applied so far
    discount_total: Decimal = Decimal(0)  # shares kept on the line (separateLineItem false)
    messages: list[str] = field(default_factory=list)
    #: every discount share taken from this line, in order: what the explanation shows (SPEC §4.8)
    discounts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _DiscountLine:
    title: str
    share: Decimal
    first: _Working
    discount: dict[str, Any] = field(default_factory=dict)


def _rated_charges(
    schedule: ScheduleSpec, items: list[DueItem], data: RatingData, warnings: list[str]
) -> list[_Working]:
    working = []
    for item in items:
        if item.kind == ItemKind.TRUE_UP:
            continue
        for line in rate_item(schedule, item, data, warnings):
            rounded = round_money_product(line.quantity, line.rate, schedule.currency)
            working.append(_Working(item, line, rounded, rounded))
    return working


def _apply_discounts(schedule: ScheduleSpec, charges: list[_Working]) -> list[_DiscountLine]:
    """Phase discounts in list order, each on the current net, after rounding and before minimums and tax
    (SPEC §4.8). Returns the separate discount lines, one per (discount, tax rate)."""
    separate: list[_DiscountLine] = []
    currency = schedule.currency
    for phase_index, phase in enumerate(schedule.phases):
        for discount in phase.discounts:
            eligible = [
                w
                for w in charges
                if w.item.phase_index == phase_index
                and (not discount.restrict_to_prices or w.item.price_id in discount.restrict_to_prices)
            ]
            if not eligible:
                continue
            shares = _discount_shares(discount.type, discount.amount, eligible, currency)
            by_rate: dict[str | None, _DiscountLine] = {}
            described = {
                "id": discount.id,
                "type": discount.type.value,
                "amount": str(discount.amount),
                "message": discount.message,
                "separateLineItem": discount.separate_line_item,
                "eligibleSubtotal": str(sum((w.current for w in eligible), Decimal(0))),
            }
            for w, share in zip(eligible, shares, strict=True):
                w.discounts.append({**described, "base": str(w.current), "share": str(share)})
                w.current -= share
                if discount.separate_line_item:
                    key = _tax_key(schedule, w.item.price_id)
                    if key not in by_rate:
                        by_rate[key] = _DiscountLine(discount.message, Decimal(0), w, described)
                    by_rate[key].share += share
                else:
                    w.discount_total += share
                    if share:
                        w.messages.append(discount.message)
            separate.extend(by_rate.values())
    return separate


def _discount_shares(kind: DiscountType, amount: Decimal, eligible: list[_Working], currency: str) -> list[Decimal]:
    if kind == DiscountType.PERCENTAGE:
        return [round_money_product(w.current, amount, currency, divisor=100) for w in eligible]
    # NOMINAL: once per invoice, capped at the eligible subtotal, pro rata, remainder to the largest line.
    subtotal = sum((w.current for w in eligible), Decimal(0))
    if subtotal <= 0:
        return [Decimal(0) for _ in eligible]
    total = min(amount, subtotal)
    shares = [round_money(Fraction(total) * Fraction(w.current) / Fraction(subtotal), currency) for w in eligible]
    remainder = total - sum(shares, Decimal(0))
    if remainder:
        largest = max(range(len(eligible)), key=lambda i: (eligible[i].current, -i))
        shares[largest] += remainder
    return shares


def _tax_key(schedule: ScheduleSpec, price_id: str | None) -> str | None:
    ref = schedule.tax_rates.get(price_id or "")
    return ref.tax_rate_id if ref else None


def _tax_for(
    schedule: ScheduleSpec, price_id: str | None, status: TaxStatus, warnings: list[str]
) -> tuple[Decimal, str | None]:
    """The line's tax rate (SPEC §4.10): the mapped rate's current version for TAXED customers, else 0."""
    ref: TaxRateRef | None = schedule.tax_rates.get(price_id or "")
    if status != TaxStatus.TAXED:
        return Decimal(0), ref.tax_rate_id if ref else None
    if ref is None:
        if "missingTaxRate" not in warnings:
            warnings.append("missingTaxRate")
        return Decimal(0), None
    return ref.amount, ref.tax_rate_id


def charges_after_discounts(
    schedule: ScheduleSpec,
    drafting_date: dt.date,
    data: RatingData,
    on_demand_days: Mapping[str, frozenset[dt.date]] | None = None,
) -> list[_Working]:
    """Charge lines of the invoice for ``drafting_date`` with discounts applied, before true-ups."""
    items = items_due_on(schedule, drafting_date, on_demand_days)
    charges = _rated_charges(schedule, items, data, [])
    _apply_discounts(schedule, charges)
    return charges


def _true_up(schedule: ScheduleSpec, item: DueItem, data: RatingData) -> tuple[Decimal, Decimal]:
    """``max(0, amount x f - eligible nets within s..e after discounts)``, recomputed from the inputs of every
    invoice that holds those lines, never read from stored invoices (SPEC §4.9). Returns (true-up, charged)."""
    assert item.minimum_index is not None
    phase = schedule.phases[item.phase_index]
    minimum = phase.minimums[item.minimum_index]
    covered = set(minimum_prices(schedule, item.phase_index, item.minimum_index))
    relevant = [
        i
        for i in due_items(schedule, item.service.end)
        if i.kind != ItemKind.TRUE_UP
        and i.price_id in covered
        and i.phase_index == item.phase_index
        and item.service.covers(i.service)
    ]
    charged = Decimal(0)
    for drafting_date in sorted({i.drafting_date for i in relevant}):
        for w in charges_after_discounts(schedule, drafting_date, data):
            if w.item in relevant:
                charged += w.current
    owed = Fraction(minimum.amount) * proration_factor(item.service, item.full) - Fraction(charged)
    return round_money(max(Fraction(0), owed), schedule.currency), charged


def read_inputs(schedule: ScheduleSpec, items: list[DueItem], data: RatingData) -> None:
    """Make exactly the reads of ``data`` that :func:`compute_invoice` makes for ``items``, and skip the
    rest (discounts, tax, lines): what an invoice reads depends only on the schedule and its items, so a
    chunk of runs learns which windows to fetch in bulk for a fraction of a computation."""
    _rated_charges(schedule, items, data, [])
    for item in items:
        if item.kind == ItemKind.TRUE_UP:
            _true_up(schedule, item, data)


def compute_invoice(
    schedule: ScheduleSpec,
    drafting_date: dt.date,
    data: RatingData,
    tax_status: TaxStatus,
    on_demand_days: Mapping[str, frozenset[dt.date]] | None = None,
    items: list[DueItem] | None = None,
) -> InvoiceDraft:
    """The invoice of ``schedule`` for drafting date D (SPEC §4.12). ``items``: the result of
    ``items_due_on(schedule, D, on_demand_days)`` when the caller has it already."""
    warnings: list[str] = []
    if items is None:
        items = items_due_on(schedule, drafting_date, on_demand_days)
    charges = _rated_charges(schedule, items, data, warnings)
    discount_lines = _apply_discounts(schedule, charges)

    lines: list[InvoiceLine] = []

    def add(
        *,
        kind: str,
        title: str,
        description: str | None,
        quantity: Fraction,
        rate: Fraction,
        display: str,
        discount_total: Decimal,
        net: Decimal,
        tax_price_id: str | None,
        price_id: str | None,
        product_id: str | None,
        service: DateRange | None,
        tier: int | None = None,
        detail: str = "",
        derivation: Mapping[str, Any] | None = None,
    ) -> None:
        tax_rate, tax_rate_id = _tax_for(schedule, tax_price_id, tax_status, warnings)
        tax = round_money_product(net, tax_rate, schedule.currency)
        lines.append(
            InvoiceLine(
                len(lines),
                kind,
                title,
                description,
                quantity,
                rate,
                display,
                discount_total,
                net,
                tax_rate,
                tax_rate_id,
                tax,
                net + tax,
                price_id,
                product_id,
                service,
                tier,
                detail,
                derivation or {},
            )
        )

    for w in charges:
        price = schedule.prices[w.item.price_id or ""]
        description = w.line.description
        if w.messages:
            description = "; ".join([d for d in [description, *w.messages] if d])
        service = w.item.window if w.item.kind == ItemKind.ON_DEMAND else w.item.service
        add(
            kind=w.line.kind,
            title=w.line.title,
            description=description,
            quantity=w.line.quantity,
            rate=w.line.rate,
            display=w.line.rate_display,
            discount_total=w.discount_total,
            net=w.rounded - w.discount_total,
            tax_price_id=price.id,
            price_id=price.id,
            product_id=price.product_id,
            service=service,
            tier=w.line.tier,
            detail=w.line.detail,
            derivation={**w.line.derivation, "discounts": w.discounts} if w.discounts else w.line.derivation,
        )
    for d in discount_lines:
        if d.share == 0:
            continue
        first_price = schedule.prices[d.first.item.price_id or ""]
        add(
            kind="DISCOUNT",
            title=d.title,
            description=None,
            quantity=Fraction(1),
            rate=-Fraction(d.share),
            display="ABSOLUTE",
            discount_total=Decimal(0),
            net=-d.share,
            tax_price_id=first_price.id,  # taxed as the first price it discounts
            price_id=None,
            product_id=first_price.product_id,
            service=d.first.item.service,
            derivation={"discount": d.discount},
        )
    for item in items:
        if item.kind != ItemKind.TRUE_UP:
            continue
        amount, charged = _true_up(schedule, item, data)
        if amount == 0:
            continue
        assert item.minimum_index is not None
        covered = minimum_prices(schedule, item.phase_index, item.minimum_index)
        first_price = schedule.prices[covered[0]]
        add(
            kind="MINIMUM_TRUE_UP",
            title="True-up charge",
            description=None,
            quantity=Fraction(1),
            rate=Fraction(amount),
            display="ABSOLUTE",
            discount_total=Decimal(0),
            net=amount,
            tax_price_id=first_price.id,
            price_id=None,
            product_id=first_price.product_id,
            service=item.service,
            derivation={
                "minimum": str(schedule.phases[item.phase_index].minimums[item.minimum_index].amount),
                "prorationNumerator": item.service.days,
                "prorationDenominator": item.full.days,
                "fullPeriod": [item.full.start.isoformat(), item.full.end.isoformat()],
                "charged": str(charged),
                "priceIds": list(covered),
            },
        )
    _check_safety_bounds(lines)

    period = billing_period(items, drafting_date) if items else None
    net = sum((line.net_total for line in lines), Decimal(0))
    tax = sum((line.total_tax for line in lines), Decimal(0))
    return InvoiceDraft(
        drafting_date=drafting_date,
        currency=schedule.currency,
        customer_tax_status=tax_status,
        lines=tuple(lines),
        groups=_groups(lines),
        billing_period=period,
        accounting_date=accounting_date(period, drafting_date) if period else None,
        net_total=round_money(net, schedule.currency),
        total_tax=round_money(tax, schedule.currency),
        gross_total=round_money(net + tax, schedule.currency),
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _groups(lines: list[InvoiceLine]) -> tuple[LineGroup, ...]:
    """One group per product, in order of first appearance (SPEC §2.12)."""
    order: list[str] = []
    totals: dict[str, list[Decimal]] = {}
    for line in lines:
        key = line.product_id or ""
        if key not in totals:
            order.append(key)
            totals[key] = [Decimal(0), Decimal(0)]
        totals[key][0] += line.net_total
        totals[key][1] += line.total_tax
    return tuple(
        LineGroup(key, i, totals[key][0], totals[key][1], totals[key][0] + totals[key][1])
        for i, key in enumerate(order)
    )


def _check_safety_bounds(lines: list[InvoiceLine]) -> None:
    """More than 1,000 lines, or two ENGINE lines for the same (price, service period, kind, tier), mean a
    broken input or a bug: fail the run instead of persisting it (SPEC §6.6)."""
    if len(lines) > MAX_LINES:
        raise SafetyBoundExceeded(f"invoice would have {len(lines)} lines (limit {MAX_LINES})")
    seen: set[tuple[Any, ...]] = set()
    for line in lines:
        if line.price_id is None:
            continue
        key = (line.price_id, line.service_period, line.kind, line.tier, line.detail, line.rate)
        if key in seen:
            raise SafetyBoundExceeded(f"duplicate line for price {line.price_id} {line.service_period} {line.kind}")
        seen.add(key)
