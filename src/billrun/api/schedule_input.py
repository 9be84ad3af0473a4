"""Validation of billing-schedule requests (SPEC §2.11), keyed like ``phases[1].startDate``."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billrun.billing.schedules import DiscountInput, MinimumInput, PhaseInput, ScheduleInput
from billrun.domain.periods import ONE_DAY, first_billing_day_on_or_after, is_monthly_billing_day
from billrun.store import taxes
from billrun.store.common import owned
from billrun.store.models import Customer, Price, TaxRate, TimeTraveller
from billrun.validation import Fields

RECURRENCE = ["CONTINUE_FROM_PREVIOUS_PHASE", "RESET"]


def _discount(d: Fields) -> DiscountInput | None:
    kind = d.enum("type", ["PERCENTAGE", "NOMINAL"])
    amount = d.decimal(
        "amount", minimum=Decimal(0), exclusive_minimum=True, maximum=Decimal(100) if kind == "PERCENTAGE" else None
    )
    message = d.string("message")
    separate = d.boolean("separateLineItem", required=True)
    restrict = d.string_list("restrictToPrices")
    if kind is None or amount is None or message is None:
        return None
    return DiscountInput(kind, amount, message, separate, restrict)


def _minimum(m: Fields) -> MinimumInput | None:
    amount = m.decimal("amount", minimum=Decimal(0), exclusive_minimum=True)
    restrict = m.string_list("restrictToPrices")
    return MinimumInput(amount, restrict) if amount is not None else None


#: A phase's Sequence fields billrun keeps and serves but does not act on (SPEC §9).
PHASE_INERT = {
    "name": str,
    "externalContractRef": str,
    "listPriceIds": list,
    "phasePriceMetadata": list,
    "phaseListPriceMetadata": list,
}
#: The same for the schedule (``defaultDueDateDays`` is read when its invoices are finalised).
SCHEDULE_INERT = {"attachmentAssetIds": list, "customFields": dict, "memo": str}


def _phase(p: Fields) -> PhaseInput | None:
    price_ids = p.string_list("priceIds", required=True)  # none: a phase that bills nothing, e.g. a free period
    # Credit grants would lower invoices; storing them without applying them would overbill (SPEC §9).
    p.must_be_empty("creditGrants")
    inert: dict[str, Any] = {}
    p.inert(inert, PHASE_INERT)
    start, end = p.date("startDate"), p.date("endDate", required=False)
    preference = p.enum("recurrencePreference", RECURRENCE, required=False, default=RECURRENCE[0])
    discounts = [x for x in p.each("discounts", _discount, required=False) if x is not None]
    minimums = [x for x in p.each("minimums", _minimum, required=False) if x is not None]
    if start is None or preference is None:
        return None
    if end is not None and end < start:
        p.error("endDate", "outOfRange", "a phase cannot end before it starts")
    return PhaseInput(price_ids, start, end, preference, discounts, minimums, inert)


def parse_schedule(
    session: Session, account_id: uuid.UUID, body: Any, *, updating: bool = False, customer_id: uuid.UUID | None = None
) -> tuple[Fields, ScheduleInput | None]:
    """Validate a create (or, with ``updating``, a full update) request; returns the fields (with errors)
    and the parsed input when every check passed."""
    v = Fields(body)
    v.legacy("createAsDraft", "isDraft")
    v.legacy("collectionPaymentProvider", "paymentProvider")
    if v.raw("type") not in (None, "PHASES"):
        v.error("type", "unsupported", "plan-based schedules (CUSTOM, PLAN) are not supported in billrun v1")
    inert: dict[str, Any] = {}
    v.inert(inert, SCHEDULE_INERT)
    due_days = v.integer("defaultDueDateDays", required=False, minimum=0, maximum=3650)
    if due_days is not None:
        inert["defaultDueDateDays"] = due_days
    if not updating:
        customer_id = _customer(session, account_id, v)
    start, end = v.date("startDate"), v.date("endDate", required=False)
    if start and end and end < start:
        v.error("endDate", "outOfRange", "endDate must not be before startDate")
    recurrence = v.integer("recurrenceDayOfMonth", required=False, minimum=1, maximum=31, digit_string=True)
    phases = [p for p in v.each("phases", _phase, required=True, min_items=1) if p is not None]
    prices = _prices(session, account_id, v, phases)
    currency = _currency(v, prices)
    tax_rates = _tax_rates(session, account_id, v, phases)
    flags = {k: v.boolean(k) for k in ("autoIssueInvoices", "isDraft", "rollUpBilling", "autoCharge")}
    payment_provider = v.enum("paymentProvider", ["STRIPE", "NONE"], required=False)
    texts = {k: v.string(k, required=False) for k in ("purchaseOrderNumber", "reference", "label")}
    traveller = None if updating else _traveller(session, account_id, v)
    if start is None or not phases or len(phases) != len(v.raw("phases") or []):
        v.raise_if_errors()
        return v, None
    day = recurrence or start.day
    _check_phases(v, phases, start, end, day, prices)
    if not v.ok:
        return v, None
    return v, ScheduleInput(
        customer_id=customer_id,
        start_date=start,
        end_date=end,
        recurrence_day=day,
        tax_rates=tax_rates,
        phases=phases,
        auto_issue_invoices=flags["autoIssueInvoices"],
        is_draft=flags["isDraft"],
        roll_up_billing=flags["rollUpBilling"],
        purchase_order_number=texts["purchaseOrderNumber"],
        reference=texts["reference"],
        label=texts["label"],
        payment_provider=payment_provider,
        auto_charge=flags["autoCharge"],
        currency=currency or "GBP",
        prices=prices,
        time_traveller=traveller,
        sequence_fields=inert,
    )


def _customer(session: Session, account_id: uuid.UUID, v: Fields) -> uuid.UUID | None:
    raw = v.string("customerId")
    if raw is None:
        return None
    customer = owned(session, Customer, account_id, raw)
    if customer is None:
        v.error("customerId", "unknownReference", "customerId does not name a customer of this account")
        return None
    if customer.archived_at is not None:
        v.error("customerId", "archived", "the customer is archived; new schedules cannot be created for it")
    return customer.id


def _prices(session: Session, account_id: uuid.UUID, v: Fields, phases: list[PhaseInput]) -> dict[str, Price]:
    found: dict[str, Price] = {}
    for i, phase in enumerate(phases):
        for j, price_id in enumerate(phase.price_ids):
            price = owned(session, Price, account_id, price_id)
            if price is None:
                v.error(f"phases[{i}].priceIds[{j}]", "unknownReference", f"price {price_id} does not exist")
            else:
                found[price_id] = price
    return found


def _currency(v: Fields, prices: dict[str, Price]) -> str | None:
    currencies = {p.currency for p in prices.values()}
    if len(currencies) > 1:
        v.error("phases", "mixedCurrency", f"all prices of a schedule share one currency, got {sorted(currencies)}")
    return next(iter(currencies)) if currencies else None


def _tax_rates(
    session: Session, account_id: uuid.UUID, v: Fields, phases: list[PhaseInput]
) -> list[tuple[str, uuid.UUID]]:
    listed = {pid for phase in phases for pid in phase.price_ids}
    mapping: list[tuple[str, uuid.UUID]] = []
    seen: set[str] = set()
    for path, element in v.items("taxRates", required=True):
        t = Fields(element, path, v.errors)
        price_id, rate_id = t.string("priceId"), t.string("taxRateId")
        if price_id is not None:
            if price_id not in listed:
                t.error("priceId", "unknownReference", "the price is in no phase of this schedule")
            elif price_id in seen:
                t.error("priceId", "conflictingFields", "a price is mapped to at most one tax rate")
            seen.add(price_id)
        if rate_id is None:
            continue
        rate = owned(session, TaxRate, account_id, rate_id)
        if rate is None:
            t.error("taxRateId", "unknownReference", "taxRateId does not name a tax rate of this account")
        elif rate.is_archived:
            t.error("taxRateId", "archived", "the tax rate is archived")
        elif not taxes.current_versions(session, [rate.id]):
            t.error("taxRateId", "unknownReference", "the tax rate has no published version")
        elif price_id is not None:
            mapping.append((price_id, rate.id))
    return mapping


def _traveller(session: Session, account_id: uuid.UUID, v: Fields) -> TimeTraveller | None:
    raw = v.raw("timeTravellerId")
    if raw is None:
        return None
    traveller = owned(session, TimeTraveller, account_id, raw, lock=True)
    if traveller is None:
        v.error("timeTravellerId", "unknownReference", "timeTravellerId does not name a time traveller")
    elif traveller.billing_schedule_id is not None:
        v.error("timeTravellerId", "conflictingFields", "the time traveller already governs another schedule")
    return traveller


def grid_boundaries_ok(day: dt.date, start: dt.date, end: dt.date | None, recurrence: int) -> bool:
    """Grid boundaries: the schedule start, every monthly billing day, and endDate + 1 (SPEC §4.2)."""
    return day == start or is_monthly_billing_day(day, recurrence) or (end is not None and day == end + ONE_DAY)


def _check_phases(
    v: Fields, phases: list[PhaseInput], start: dt.date, end: dt.date | None, recurrence: int, prices: dict[str, Price]
) -> None:
    if phases[0].start_date != start:
        v.error("phases[0].startDate", "notContiguous", "the first phase must start on the schedule's startDate")
    for i, phase in enumerate(phases):
        key = f"phases[{i}]"
        last = i == len(phases) - 1
        if not last:
            nxt = phases[i + 1]
            if phase.end_date is None:
                v.error(f"{key}.endDate", "required", "only the last phase may be open-ended")
            elif nxt.start_date != phase.end_date + ONE_DAY:
                v.error(
                    f"phases[{i + 1}].startDate",
                    "notContiguous",
                    "phases must be contiguous: each starts the day after the previous one ends",
                )
        elif phase.end_date != end:
            v.error(f"{key}.endDate", "notContiguous", "the last phase must end on the schedule's endDate")
        if phase.recurrence_preference == "RESET" and not is_monthly_billing_day(phase.start_date, recurrence):
            v.error(
                f"{key}.recurrencePreference", "notOnGridBoundary", "a RESET phase must start on a monthly billing day"
            )
        if (phase.discounts or phase.minimums) and not grid_boundaries_ok(phase.start_date, start, end, recurrence):
            v.error(
                f"{key}.startDate",
                "notOnGridBoundary",
                "discounts and minimums need a phase that starts on a billing period boundary (next: "
                f"{first_billing_day_on_or_after(phase.start_date, recurrence)})",
            )
        for j, discount in enumerate(phase.discounts):
            for pid in discount.restrict_to_prices:
                if pid not in phase.price_ids:
                    v.error(
                        f"{key}.discounts[{j}].restrictToPrices",
                        "unknownReference",
                        f"price {pid} is not in this phase",
                    )
        for j, minimum in enumerate(phase.minimums):
            covered = minimum.restrict_to_prices or [
                pid
                for pid in phase.price_ids
                if pid in prices
                and prices[pid].billing_frequency not in ("ONE_TIME", "ON_DEMAND")
                and prices[pid].structure.get("pricingType") != "ONE_TIME"
            ]
            for pid in minimum.restrict_to_prices:
                if pid not in phase.price_ids:
                    v.error(
                        f"{key}.minimums[{j}].restrictToPrices", "unknownReference", f"price {pid} is not in this phase"
                    )
            frequencies = {prices[pid].billing_frequency for pid in covered if pid in prices}
            if len(frequencies) > 1:
                v.error(
                    f"{key}.minimums[{j}].restrictToPrices",
                    "outOfRange",
                    "a minimum's prices must share one billing frequency",
                )
            if frequencies & {"ONE_TIME", "ON_DEMAND"}:
                v.error(f"{key}.minimums[{j}].restrictToPrices", "unsupported", "minimums cover recurring prices only")
