"""Validation of price requests (SPEC §2.4), legacy names included, into the canonical structure JSON."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billrun.domain.money import SUPPORTED_CURRENCIES
from billrun.domain.periods import FREQUENCY_MONTHS, Frequency
from billrun.domain.statuses import CatalogStatus
from billrun.store.common import owned
from billrun.store.models import Product, SeatMetric, UsageMetric
from billrun.validation import Fields, integration_ids

PRICING_TYPES = ["FIXED", "ONE_TIME", "LINEAR", "PACKAGE", "VOLUME", "GRADUATED", "SEAT_BASED"]
FREQUENCIES = ["ON_DEMAND", "ONE_TIME", "MONTHLY", "QUARTERLY", "HALF_YEARLY", "YEARLY"]
PERIOD_FREQUENCIES = ["MONTHLY", "QUARTERLY", "HALF_YEARLY", "YEARLY"]
BILLING_TYPES = ["IN_ARREARS", "IN_ADVANCE"]
#: Sequence's price statuses; billrun stores the status and bills DRAFT and ACTIVE prices alike (SPEC §9).
PRICE_STATUSES = list(CatalogStatus)
ZERO, ONE = Decimal(0), Decimal(1)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class PriceInput:
    """A validated price request. ``errors`` accumulate in the shared :class:`Fields`."""

    def __init__(self, session: Session, account_id: uuid.UUID, body: Any) -> None:
        self.session, self.account_id = session, account_id
        v = self.v = Fields(body)
        v.legacy("externalIds", "integrationIds")
        self.name = v.string("name")
        self.product_id = self._product(v)
        self.currency = v.enum("currency", sorted(SUPPORTED_CURRENCIES))
        self.billing_frequency = v.enum("billingFrequency", FREQUENCIES)
        self.billing_type = v.enum("billingType", BILLING_TYPES)
        self.integration_ids = integration_ids(v)
        self.list_price_id = v.string("listPriceId", required=False)
        self.sequence_fields: dict[str, Any] = {}
        v.inert(self.sequence_fields, {"customMetricParameters": list})
        self.sequence_fields["status"] = v.enum("status", PRICE_STATUSES, required=False, default=CatalogStatus.ACTIVE)
        self.usage_metric_kind: str | None = None
        self.structure: dict[str, Any] = {}
        structure = v.child("structure")
        if structure is not None:
            self.structure = self._structure(structure)
        self.usage_calculation_period = self._usage_period(v)
        self._combinations(v)

    def _product(self, v: Fields) -> uuid.UUID | None:
        raw = v.string("productId")
        if raw is None:
            return None
        product = owned(self.session, Product, self.account_id, raw)
        if product is None:
            v.error("productId", "unknownReference", "productId does not name a product of this account")
            return None
        if product.archived_at is not None:
            v.error("productId", "archived", "the product is archived; new prices cannot be added to it")
        return product.id

    def _metric(self, s: Fields, key: str = "usageMetricId") -> str | None:
        raw = s.string(key)
        if raw is None:
            return None
        metric = owned(self.session, UsageMetric, self.account_id, raw)
        if metric is None or metric.deleted_at is not None:
            s.error(key, "unknownReference", f"{s.path(key)} does not name a usage metric of this account")
            return None
        self.usage_metric_kind = metric.aggregation_type
        return str(metric.id)

    def _amount(self, s: Fields, key: str, required: bool = True) -> str | None:
        return _text(s.decimal(key, required=required, minimum=ZERO))

    def _structure(self, s: Fields) -> dict[str, Any]:
        s.legacy("seatTypeId", "seatMetricId")
        s.legacy("includedSeats", "contractedMinimumSeats")
        charge_method = s.raw("chargeMethod")
        if charge_method is not None and charge_method != "CHARGE_CONSUMED":
            s.error("chargeMethod", "unsupported", "chargeMethod other than CHARGE_CONSUMED is not supported")
        pricing_type = s.enum("pricingType", PRICING_TYPES)
        out: dict[str, Any] = {"pricingType": pricing_type}
        if pricing_type in ("FIXED", "ONE_TIME"):
            out["price"] = self._amount(s, "price")
        elif pricing_type == "LINEAR":
            percentage = s.boolean("isPricePercentage")
            rate = s.decimal("pricePerUnit", minimum=ZERO, maximum=ONE if percentage else None)
            out.update(pricePerUnit=_text(rate), usageMetricId=self._metric(s), isPricePercentage=percentage)
            self._min_max(s, out, percentage)
        elif pricing_type == "PACKAGE":
            size = s.decimal("packageSize", minimum=ZERO, exclusive_minimum=True)
            out.update(
                packageSize=_text(size),
                pricePerPackage=self._amount(s, "pricePerPackage"),
                usageMetricId=self._metric(s),
            )
        elif pricing_type in ("VOLUME", "GRADUATED"):
            out["usageMetricId"] = self._metric(s)
            if pricing_type == "GRADUATED":
                out["usageCalculationMode"] = s.enum(
                    "usageCalculationMode", ["BILLING_PERIOD", "CUMULATIVE", "PERIODIC"]
                )
            out["tiers"] = self._tiers(s, pricing_type, required=True)
        elif pricing_type == "SEAT_BASED":
            out.update(self._seats(s))
        return out

    def _min_max(self, s: Fields, out: dict[str, Any], percentage: bool) -> None:
        low, high = (
            s.decimal("minPrice", required=False, minimum=ZERO),
            s.decimal("maxPrice", required=False, minimum=ZERO),
        )
        if low is None and high is None:
            return
        if not percentage:
            s.error(
                "minPrice" if low is not None else "maxPrice",
                "unsupported",
                "minPrice and maxPrice are allowed only on percentage prices",
            )
        if low is not None and high is not None and low > high:
            s.error("minPrice", "outOfRange", "minPrice must not exceed maxPrice")
        if self.usage_metric_kind not in (None, "SUM"):
            s.error("usageMetricId", "unsupported", "per-event minimum and maximum need a SUM metric")
        out.update(minPrice=_text(low), maxPrice=_text(high))

    def _tiers(self, s: Fields, pricing_type: str, required: bool) -> list[dict[str, Any]]:
        tiers: list[dict[str, Any]] = []
        raw = s.items("tiers", required=required, min_items=1 if required else 0)
        previous: Decimal | None = None
        for index, (path, element) in enumerate(raw):
            t = Fields(element, path, s.errors)
            last = index == len(raw) - 1
            bound = t.decimal("upperBound", required=False, minimum=ZERO, exclusive_minimum=True)
            if t.has("upperBound") and last:
                t.error("upperBound", "outOfRange", "the last tier must be unbounded (upperBound null)")
            if not t.has("upperBound") and not last:
                t.error("upperBound", "required", "only the last tier may be unbounded")
            if bound is not None and previous is not None and bound <= previous:
                t.error("upperBound", "outOfRange", "tier upper bounds must strictly increase")
            previous = bound if bound is not None else previous
            tier: dict[str, Any] = {"upperBound": _text(bound)}
            percentage = False
            if pricing_type != "SEAT_BASED":
                percentage = t.boolean("isPricePercentage")
            tier["price"] = _text(t.decimal("price", minimum=ZERO, maximum=ONE if percentage else None))
            tier["fee"] = _text(t.decimal("fee", required=False, minimum=ZERO))
            if pricing_type != "SEAT_BASED":
                tier["isPricePercentage"] = percentage
            if pricing_type == "VOLUME":
                self._min_max(t, tier, percentage)
            elif t.has("minPrice") or t.has("maxPrice"):
                t.error(
                    "minPrice" if t.has("minPrice") else "maxPrice",
                    "unsupported",
                    "minPrice and maxPrice are allowed only on VOLUME and LINEAR percentage prices",
                )
            tiers.append(tier)
        return tiers

    def _seats(self, s: Fields) -> dict[str, Any]:
        out: dict[str, Any] = {}
        raw = s.string("seatMetricId")
        metric = owned(self.session, SeatMetric, self.account_id, raw) if raw else None
        if raw and metric is None:
            s.error("seatMetricId", "unknownReference", "seatMetricId does not name a seat metric of this account")
        out["seatMetricId"] = str(metric.id) if metric else None
        out["pricePerSeat"] = self._amount(s, "pricePerSeat")
        out["prorationStrategy"] = s.enum(
            "prorationStrategy", ["USE_MAXIMUM", "PRORATE_INCREMENTS", "PRORATE_ALL_CHANGES"]
        )
        out["contractedMinimumSeats"] = s.integer("contractedMinimumSeats", minimum=0, digit_string=True)
        overages = s.enum("overagesBillingFrequency", [*PERIOD_FREQUENCIES, "NONE"], required=False)
        if overages == "NONE":  # Sequence's name for "with the billing frequency", billrun's null
            overages = None
        if overages and self.billing_frequency in PERIOD_FREQUENCIES:
            if FREQUENCY_MONTHS[Frequency(self.billing_frequency)] % FREQUENCY_MONTHS[Frequency(overages)]:
                s.error(
                    "overagesBillingFrequency",
                    "outOfRange",
                    "overagesBillingFrequency must divide the billing frequency",
                )
            elif overages == self.billing_frequency:
                overages = None  # an equal value is the same as null
        out["overagesBillingFrequency"] = overages
        out["tiers"] = self._tiers(s, "SEAT_BASED", required=False)
        return out

    def _usage_period(self, v: Fields) -> dict[str, Any] | None:
        mode = self.structure.get("usageCalculationMode")
        period = v.child("usageCalculationPeriod", required=mode == "PERIODIC")
        if mode != "PERIODIC" or period is None:
            return None
        frequency = period.enum("frequency", PERIOD_FREQUENCIES)
        interval = period.integer("interval", minimum=1, default=1)
        if frequency and interval and self.billing_frequency in PERIOD_FREQUENCIES:
            window = FREQUENCY_MONTHS[Frequency(frequency)] * interval
            if window % FREQUENCY_MONTHS[Frequency(self.billing_frequency)]:
                period.error(
                    "interval", "outOfRange", "the usage calculation period must be a multiple of the billing period"
                )
        return {"frequency": frequency, "interval": interval}

    def _combinations(self, v: Fields) -> None:
        pricing_type = self.structure.get("pricingType")
        if not pricing_type or not self.billing_frequency or not self.billing_type:
            return
        if self.billing_type == "IN_ADVANCE" and pricing_type not in ("FIXED", "ONE_TIME", "SEAT_BASED"):
            v.error("billingType", "unsupported", "only FIXED, ONE_TIME and SEAT_BASED prices can be IN_ADVANCE")
        if self.billing_frequency == "ON_DEMAND" and (
            self.billing_type != "IN_ARREARS" or pricing_type not in ("LINEAR", "PACKAGE", "GRADUATED")
        ):
            v.error(
                "billingFrequency",
                "unsupported",
                "ON_DEMAND needs IN_ARREARS and a LINEAR, PACKAGE or GRADUATED structure",
            )
        if self.billing_frequency == "ONE_TIME" and pricing_type not in ("FIXED", "ONE_TIME"):
            v.error("billingFrequency", "unsupported", "ONE_TIME frequency needs a FIXED or ONE_TIME structure")
        if pricing_type == "SEAT_BASED" and self.billing_frequency in ("ON_DEMAND", "ONE_TIME"):
            v.error("billingFrequency", "unsupported", "SEAT_BASED prices need a recurring billing frequency")
