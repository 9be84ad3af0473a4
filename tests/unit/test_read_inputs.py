"""``read_inputs`` (the chunk's cheap recording pass) makes exactly the reads ``compute_invoice`` makes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billrun.domain.drafting import drafting_dates, items_due_on
from billrun.domain.inputs import Minimum, Phase, ScheduleSpec, TaxStatus
from billrun.domain.invoice import compute_invoice, read_inputs
from billrun.domain.memory import RecordingData
from tests.unit.builders import d, fixed, price, schedule

TIERS = [{"upperBound": "1000", "price": "0.10"}, {"upperBound": None, "price": "0.05"}]


def _usage(pid: str, mode: str, **kw: object) -> object:
    return price(
        pid,
        {"pricingType": "GRADUATED", "usageMetricId": "units", "usageCalculationMode": mode, "tiers": TIERS},
        **kw,  # type: ignore[arg-type]
    )


def _seats(pid: str, overages: str | None = None, **kw: object) -> object:
    structure: dict[str, object] = {
        "pricingType": "SEAT_BASED",
        "seatMetricId": "editor",
        "pricePerSeat": "15",
        "prorationStrategy": "PRORATE_INCREMENTS",
        "contractedMinimumSeats": 2,
    }
    if overages:
        structure["overagesBillingFrequency"] = overages
    return price(pid, structure, **kw)  # type: ignore[arg-type]


SCHEDULES: dict[str, ScheduleSpec] = {
    "mixed": schedule(
        [
            fixed("platform", "49", billing_type="IN_ADVANCE"),
            _seats("seats", overages="MONTHLY", frequency="QUARTERLY", billing_type="IN_ADVANCE"),
            _usage("calls", "BILLING_PERIOD"),
        ],
        start="2024-01-15",
    ),
    "cumulative": schedule([_usage("g", "CUMULATIVE")]),
    "periodic": schedule([_usage("g", "PERIODIC", usage_calculation_period={"frequency": "MONTHLY", "interval": 2})]),
    # a quarterly minimum over a monthly usage price: the true-up reads the two earlier months too
    "minimum": schedule(
        [
            fixed("base", "10", frequency="QUARTERLY"),
            price("calls", {"pricingType": "LINEAR", "usageMetricId": "units", "pricePerUnit": "0.10"}),
        ],
        phases=[Phase(d("2024-01-01"), None, ("base", "calls"), minimums=(Minimum(Decimal(1000)),))],
    ),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_read_inputs_records_what_compute_invoice_reads(name: str) -> None:
    s = SCHEDULES[name]
    dates = drafting_dates(s, d("2024-12-31"))
    assert len(dates) >= 6
    windows = 0
    for drafting_date in dates:
        items = items_due_on(s, drafting_date)
        full, cheap = RecordingData(), RecordingData()
        compute_invoice(s, drafting_date, full, TaxStatus.TAXED, None, items)
        read_inputs(s, items, cheap)
        assert (cheap.usage_windows, cheap.value_windows, cheap.seat_types) == (
            full.usage_windows,
            full.value_windows,
            full.seat_types,
        ), drafting_date
        windows += len(full.usage_windows) + len(full.seat_types)
    assert windows >= len(dates)  # every schedule here reads usage or seats on every drafting date
