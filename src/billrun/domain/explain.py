"""Why each invoice line is what it is, in words and exact numbers, from the calculation's own inputs.

:func:`explain` takes what the calculation read (the schedule as it was, the values the snapshot recorded,
SPEC §6.7) and the draft those inputs give, and writes per line: how quantity x rate arises (``steps``, whose
amounts add up to the line's exact amount), the usage, tier, proration and seat facts behind it, the rounding
step, the discounts taken, the tax and the totals. Nothing here recomputes with today's data: the billing
layer replays the snapshot and hands over the result.

Worked example (GRADUATED, tiers [<=1000 @ 0.10], [>1000 @ 0.08], 1,250 units in the period):

    Tier 1: units 0 to 1,000 of 1,250: 1,000 x 0.10 = 100     (rounded 100.00)
    Tier 2: units 1,000 to 1,250 of 1,250: 250 x 0.08 = 20    (rounded 20.00)
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from fractions import Fraction
from typing import Any

from billrun.domain.inputs import PriceSpec, PricingType, ProrationStrategy, ScheduleSpec, TaxStatus
from billrun.domain.invoice import InvoiceDraft, InvoiceLine
from billrun.domain.money import minor_units, money_str, round_money
from billrun.domain.periods import DateRange
from billrun.domain.pricing import RatingData, tier_bounds


def exact(value: Fraction | Decimal | int) -> str:
    """An exact number as text: a plain decimal when it has one (``41.5``), else the fraction (``1300/31``)."""
    f = Fraction(value)
    d = f.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d != 1:
        return f"{f.numerator}/{f.denominator}"
    places = 0
    while (f * 10**places).denominator != 1:
        places += 1
    text = format(Decimal(f.numerator * 10**places // f.denominator).scaleb(-places), "f")
    return text


def _n(value: Fraction | Decimal | int) -> str:
    """A number for people: grouped thousands, every digit, and a fraction when it does not terminate."""
    text = exact(value)
    if "/" in text:
        return text
    return format(Decimal(text), ",f")


def _pct(value: Fraction | Decimal) -> str:
    return f"{_n(Fraction(value) * 100)}%"


def _rate_text(rate: Fraction, display: str) -> str:
    return _pct(rate) if display == "PERCENTAGE" else _n(rate)


def _day(raw: str) -> dt.date:
    return dt.date.fromisoformat(raw)


def period_words(days: int, of: int, full: DateRange) -> str:
    """``13/30 days of April 2024``; a period that is not a calendar month is named by its dates."""
    last = calendar.monthrange(full.start.year, full.start.month)[1]
    if full.start.day == 1 and full.end == full.start.replace(day=last):
        name = f"{calendar.month_name[full.start.month]} {full.start.year}"
    else:
        name = f"the period {full.start.isoformat()} to {full.end.isoformat()}"
    return f"{days}/{of} days of {name}"


def _proration(derivation: dict[str, Any]) -> dict[str, Any] | None:
    numerator, denominator = derivation.get("prorationNumerator"), derivation.get("prorationDenominator")
    if numerator is None or denominator is None:
        return None
    found: dict[str, Any] = {"days": numerator, "of": denominator, "factor": exact(Fraction(numerator, denominator))}
    full = derivation.get("fullPeriod")
    if full:
        found["fullPeriod"] = {"start": full[0], "endInclusive": full[1]}
        found["text"] = period_words(numerator, denominator, DateRange(_day(full[0]), _day(full[1])))
    else:
        found["text"] = f"{numerator}/{denominator} days"
    return found


def _opt(value: Fraction | None) -> str | None:
    return None if value is None else exact(value)


def _usage(derivation: dict[str, Any]) -> dict[str, Any] | None:
    if "value" not in derivation:
        return None
    usage = {
        "window": {"start": derivation["window"][0], "endInclusive": derivation["window"][1]},
        "value": derivation["value"],
        "eventCount": derivation.get("eventCount", 0),
        "invalidPropertyValues": derivation.get("invalidPropertyValues", 0),
    }
    accumulated = derivation.get("accumulated")
    if accumulated:
        usage["before"] = {
            "window": {"start": accumulated["window"][0], "endInclusive": accumulated["window"][1]},
            "value": accumulated["value"],
            "eventCount": accumulated.get("eventCount", 0),
        }
    return usage


def _clamped(raw: str | None) -> Fraction:
    value = Fraction(Decimal(raw or "0"))
    return max(value, Fraction(0))


class _Explainer:
    def __init__(
        self, spec: ScheduleSpec | None, currency: str, tax_status: TaxStatus, data: RatingData | None
    ) -> None:
        self.prices = spec.prices if spec else {}
        self.tax_rates = list(spec.tax_rates.values()) if spec else []
        self.tax_status = tax_status
        self.data = data
        self.currency = currency
        #: structured facts of the line being explained (its tier range, its packages), beside the words
        self.facts: dict[str, Any] = {}

    # --- the arithmetic of quantity x rate ------------------------------------------------------------------

    def steps(self, line: InvoiceLine, price: PriceSpec | None) -> tuple[list[dict[str, Any]], list[str]]:
        """(steps, reasons): steps multiply out to the line's exact amount; reasons say where numbers came from."""
        d = line.derivation
        q, r = line.quantity, line.rate
        if line.kind == "DISCOUNT":
            return [self._step(f"{d.get('discount', {}).get('message') or line.title}", q, r)], []
        if line.kind == "MINIMUM_TRUE_UP":
            return self._true_up(line)
        if price is None:
            return [self._step("manual line", q, r)], []
        if line.kind in ("SEAT_BASELINE", "SEAT_INCREMENT", "SEAT_OVERAGE"):
            return self._seats(line, price)
        if line.kind == "FLAT_FEE":
            fee = self._tier_fee(price, line.tier)
            factor = r / fee if fee else Fraction(1)
            text = f"tier {line.tier} flat fee {_n(fee)}"
            if factor != 1:
                text += f" x {exact(factor)} (the period's proration)"
            return [self._step(text + ", charged once as the tier is reached", q, r)], []
        if "perEventFees" in d:
            fees = [Decimal(f) for f in d["perEventFees"]]
            reasons = [f"{len(fees)} events with a positive value, each paying round(clamp(value x rate, min, max))"]
            shown = ", ".join(money_str(f, self.currency) for f in fees[:20]) + (" ..." if len(fees) > 20 else "")
            reasons.append(f"fees: {shown} (sum {money_str(sum(fees, Decimal(0)), self.currency)})")
            return [self._step(line.description or "per-event fees", q, r)], reasons
        if price.pricing_type in (PricingType.FIXED, PricingType.ONE_TIME):
            if "prorationNumerator" in d:
                text = f"{_n(price.price)} x {d['prorationNumerator']}/{d['prorationDenominator']}"
                return [self._step(text + " (the part of the period billed)", q, r)], []
            return [self._step(f"{_n(price.price)}, charged once", q, r)], []
        if price.pricing_type == PricingType.LINEAR:
            return [self._step(f"{_n(q)} units x {_rate_text(r, line.rate_display)}", q, r)], []
        if price.pricing_type == PricingType.PACKAGE:
            used = _clamped(d.get("value"))
            if "accumulated" in d:  # ON_DEMAND: packages newly started by today's usage
                before = _clamped(d["accumulated"]["value"])
                reason = (
                    f"packages of {_n(price.package_size)}: ceil({_n(before + used)} / {_n(price.package_size)}) - "
                    f"ceil({_n(before)} / {_n(price.package_size)}) = {_n(q)}"
                )
            else:
                reason = f"ceil({_n(used)} units / {_n(price.package_size)} per package) = {_n(q)} packages"
                self.facts["packages"] = {"units": exact(used), "packageSize": exact(price.package_size)}
            return [self._step(f"{_n(q)} packages x {_n(r)}", q, r)], [reason]
        if price.pricing_type == PricingType.VOLUME and line.tier is not None:
            lower, upper = tier_bounds(price.tiers)[line.tier - 1]
            bound = f"more than {_n(lower)}" + (f" up to {_n(upper)}" if upper is not None else "")
            reason = f"all {_n(q)} units at tier {line.tier} ({bound} units)"
            self.facts["tier"] = {"tier": line.tier, "lower": exact(lower), "upper": _opt(upper), "units": exact(q)}
            return [self._step(f"{_n(q)} units x {_rate_text(r, line.rate_display)}", q, r)], [reason]
        if price.pricing_type == PricingType.GRADUATED and line.tier is not None:
            return self._graduated(line, price)
        return [self._step(f"{_n(q)} x {_rate_text(r, line.rate_display)}", q, r)], []

    def _step(self, text: str, quantity: Fraction, rate: Fraction) -> dict[str, Any]:
        amount = quantity * rate
        return {
            "text": f"{text} = {_n(amount)}",
            "quantity": exact(quantity),
            "rate": exact(rate),
            "amount": exact(amount),
        }

    @staticmethod
    def _tier_fee(price: PriceSpec, tier: int | None) -> Fraction:
        return Fraction(price.tiers[(tier or 1) - 1].fee) if price.tiers else Fraction(0)

    def _graduated(self, line: InvoiceLine, price: PriceSpec) -> tuple[list[dict[str, Any]], list[str]]:
        assert line.tier is not None
        d = line.derivation
        before = _clamped(d["accumulated"]["value"]) if "accumulated" in d else Fraction(0)
        after = before + _clamped(d.get("value"))
        lower, upper = tier_bounds(price.tiers)[line.tier - 1]
        top = after if upper is None else min(after, upper)
        start = max(before, lower)
        q, r = line.quantity, line.rate
        self.facts["tier"] = {
            "tier": line.tier,
            "lower": exact(lower),
            "upper": _opt(upper),
            "from": exact(start),
            "to": exact(top),
            "runningTotalBefore": exact(before),
            "runningTotalAfter": exact(after),
        }
        if q == 0:
            reason = f"no units in tier {line.tier} this period (running total {_n(after)})"
        else:
            reason = f"units {_n(start)} to {_n(top)} of {_n(after)} fall in tier {line.tier}"
            if before:
                reason += f" (the running total went from {_n(before)} to {_n(after)})"
        return [self._step(f"{_n(q)} units x {_rate_text(r, line.rate_display)}", q, r)], [reason]

    def _seats(self, line: InvoiceLine, price: PriceSpec) -> tuple[list[dict[str, Any]], list[str]]:
        d = line.derivation
        parts = d.get("parts") or [{"kind": line.kind, "quantity": str(line.quantity), **d}]
        steps, reasons = [], []
        base = Fraction(price.price_per_seat)
        if line.tier is not None and price.tiers:
            base = Fraction(price.tiers[line.tier - 1].price)
        for part in parts:
            q = Fraction(part["quantity"])
            seats, days = part.get("seats"), part.get("days", 1)
            kind = str(part["kind"]).replace("SEAT_", "").lower()
            first, last = part.get("seatFrom", 0) + 1, part.get("seatFrom", 0) + (seats or 0)
            what = f"{kind}: seat {first}" if first == last else f"{kind}: seats {first} to {last}"
            if days and days != 1:
                what += f", {days} days each (seat-days {_n(q)})"
            if part.get("changeDay") and kind != "baseline":
                what += f" from {part['changeDay']}"
            steps.append(self._step(f"{what}: {_n(q)} x {_n(line.rate)}", q, line.rate))
        factor = line.rate / base if base else Fraction(1)
        if factor != 1:
            if price.proration_strategy == ProrationStrategy.PRORATE_ALL_CHANGES and "parts" not in d:
                reasons.append(f"rate {_n(base)} per seat x {exact(factor)} (per seat-day of the period)")
            else:
                reasons.append(f"rate {_n(base)} per seat x {exact(factor)} (the part of the period held)")
        reasons.append(f"strategy {price.proration_strategy.value}, {price.contracted_minimum_seats} contracted seats")
        return steps, reasons

    def _true_up(self, line: InvoiceLine) -> tuple[list[dict[str, Any]], list[str]]:
        d = line.derivation
        minimum = Fraction(Decimal(d["minimum"]))
        factor = Fraction(d["prorationNumerator"], d["prorationDenominator"])
        charged = Fraction(Decimal(d.get("charged", "0")))
        owed = minimum * factor - charged
        reasons = [
            f"minimum {_n(minimum)} x {d['prorationNumerator']}/{d['prorationDenominator']} = {_n(minimum * factor)}",
            f"less the eligible charges after discounts {_n(charged)} = {_n(owed)}, "
            f"rounded {money_str(line.net_total, self.currency)}",
        ]
        return [self._step("true-up to the minimum", line.quantity, line.rate)], reasons

    # --- one line ---------------------------------------------------------------------------------------------

    def line(self, line: InvoiceLine) -> dict[str, Any]:
        price = self.prices.get(line.price_id or "")
        self.facts = {}
        steps, reasons = self.steps(line, price)
        exact_amount = line.quantity * line.rate
        rounded = round_money(exact_amount, self.currency)
        service = line.service_period
        found: dict[str, Any] = {
            "index": line.index,
            "kind": line.kind,
            "title": line.title,
            "priceId": line.price_id,
            "servicePeriod": {"start": service.start.isoformat(), "endInclusive": service.end.isoformat()}
            if service
            else None,
            "quantity": exact(line.quantity),
            "rate": exact(line.rate),
            "rateDisplay": line.rate_display,
            "steps": steps,
            "reasons": reasons,
            "exactAmount": exact(exact_amount),
            "rounding": {
                "from": exact(exact_amount),
                "to": money_str(rounded, self.currency),
                "text": f"{exact(exact_amount)} rounded half up to {minor_units(self.currency)} decimal places "
                f"= {money_str(rounded, self.currency)}",
            },
        }
        usage = _usage(dict(line.derivation))
        if usage:
            found["usage"] = usage
        proration = _proration(dict(line.derivation))
        if proration:
            found["proration"] = proration
        if price is not None and price.seat_type and service is not None and self.data is not None:
            found["seats"] = self._seat_timeline(price.seat_type, service)
        found.update(self.facts)
        found["discounts"] = self._discounts(line)
        found["netTotal"] = money_str(line.net_total, self.currency)
        found["tax"] = self._tax(line)
        found["grossTotal"] = money_str(line.gross_total, self.currency)
        return found

    def _discounts(self, line: InvoiceLine) -> list[dict[str, Any]]:
        taken = []
        for item in line.derivation.get("discounts", []):
            share = Decimal(item["share"])
            if item["type"] == "PERCENTAGE":
                base = Decimal(item["base"])
                exact_share = Fraction(base) * Fraction(Decimal(item["amount"])) / 100
                text = (
                    f"{_n(Decimal(item['amount']))}% of {money_str(base, self.currency)} = {_n(exact_share)}, "
                    f"rounded {money_str(share, self.currency)}"
                )
            else:
                text = (
                    f"{_n(Decimal(item['amount']))} off, shared pro rata over eligible charges of "
                    f"{money_str(Decimal(item['eligibleSubtotal']), self.currency)}: this line's share "
                    f"{money_str(share, self.currency)}"
                )
            if item["separateLineItem"]:
                text += " (shown as its own line)"
            taken.append({**item, "text": text, "onThisLine": not item["separateLineItem"]})
        return taken

    def _tax(self, line: InvoiceLine) -> dict[str, Any]:
        ref = next((t for t in self.tax_rates if t.tax_rate_id == line.tax_rate_id), None)
        status = self.tax_status
        tax: dict[str, Any] = {
            "taxRateId": line.tax_rate_id,
            "versionId": ref.version_id if ref else None,
            "version": ref.version if ref else None,
            "rate": exact(line.tax_rate),
            "amount": money_str(line.total_tax, self.currency),
        }
        if status != TaxStatus.TAXED:
            tax["text"] = f"no tax: the customer is {status.value}"
        elif line.tax_rate_id is None:
            tax["text"] = "no tax rate is mapped to this price"
        else:
            exact_tax = Fraction(line.net_total) * Fraction(line.tax_rate)
            version = f" (version {ref.version})" if ref and ref.version_id else ""
            tax["text"] = (
                f"{_pct(line.tax_rate)}{version} of {money_str(line.net_total, self.currency)} = {_n(exact_tax)}, "
                f"rounded {money_str(line.total_tax, self.currency)}"
            )
        return tax

    def _seat_timeline(self, seat_type: str, service: DateRange) -> dict[str, Any]:
        """The daily maxima over the service period, as runs of days with the same maximum."""
        assert self.data is not None
        timeline = self.data.seat_timeline(seat_type)
        runs: list[dict[str, Any]] = []
        for day in service.each_day():
            seats = timeline.day_max(day)
            if runs and runs[-1]["seats"] == seats:
                runs[-1]["to"] = day.isoformat()
            else:
                runs.append({"from": day.isoformat(), "to": day.isoformat(), "seats": seats})
        changes = [[ts.isoformat(), total] for ts, total in timeline.changes_within(service)]
        return {"seatType": seat_type, "dailyMaxima": runs, "changes": changes}


def explain(spec: ScheduleSpec, draft: InvoiceDraft, data: RatingData) -> list[dict[str, Any]]:
    """Every line of ``draft`` explained (see the module docstring)."""
    explainer = _Explainer(spec, draft.currency, draft.customer_tax_status, data)
    return [explainer.line(line) for line in draft.lines]


def explain_manual(line: InvoiceLine, currency: str, tax_status: TaxStatus) -> dict[str, Any]:
    """A line a person added: its quantity x rate, rounding and tax, with no pricing behind it."""
    return _Explainer(None, currency, tax_status, None).line(line)
