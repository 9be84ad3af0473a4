"""A chunk plans each distinct plan once (``billrun.billing.rating.plan_key``): schedules whose terms differ
only in their own ids share the items due and the inputs they read; any other difference keeps them apart."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billrun.billing.rating import PLAN_FIELDS, plan_key
from billrun.domain.drafting import drafting_dates, items_due_on
from billrun.domain.inputs import ScheduleSpec
from billrun.domain.invoice import read_inputs
from billrun.domain.memory import RecordingData
from tests.unit.test_explanation import billing_cases


def _renamed(spec: ScheduleSpec, suffix: str) -> ScheduleSpec:
    """The same terms under other ids: another customer sold the same plan."""
    phases = tuple(
        dataclasses.replace(
            p,
            id=f"{p.id}-{suffix}",
            discounts=tuple(dataclasses.replace(x, id=f"{x.id}-{suffix}") for x in p.discounts),
            minimums=tuple(dataclasses.replace(x, id=f"{x.id}-{suffix}") for x in p.minimums),
        )
        for p in spec.phases
    )
    return dataclasses.replace(spec, id=f"{spec.id}-{suffix}", phases=phases)


def _reads(spec: ScheduleSpec, day: dt.date, on_demand: dict[str, frozenset[dt.date]]) -> tuple[Any, ...]:
    items = items_due_on(spec, day, on_demand)
    recorder = RecordingData()
    read_inputs(spec, items, recorder)
    return items, recorder.usage_windows, recorder.value_windows, recorder.seat_types


def test_the_key_covers_every_field_of_a_schedule() -> None:
    """A field added to ScheduleSpec must be weighed for the key (kept apart, or named irrelevant)."""
    assert {f.name for f in dataclasses.fields(ScheduleSpec)} == PLAN_FIELDS


@given(case=billing_cases())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_schedules_sharing_a_key_have_the_same_items_and_reads(case: tuple[Any, ...]) -> None:
    spec, _, on_demand = case
    other = _renamed(spec, "b")
    for day in drafting_dates(spec, spec.start + dt.timedelta(days=130), on_demand)[:6]:
        assert plan_key(spec, day, on_demand) == plan_key(other, day, on_demand)
        assert _reads(spec, day, on_demand) == _reads(other, day, on_demand)


@given(case=billing_cases(), shift=st.integers(1, 20))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_any_other_difference_keeps_schedules_apart(case: tuple[Any, ...], shift: int) -> None:
    spec, _, on_demand = case
    day = spec.start + dt.timedelta(days=40)
    key = plan_key(spec, day, on_demand)
    moved = dataclasses.replace(spec, start=spec.start + dt.timedelta(days=shift))
    first = spec.phases[0]
    later_phase = dataclasses.replace(
        spec, phases=(dataclasses.replace(first, start=first.start + dt.timedelta(days=shift)),)
    )
    other_day = dataclasses.replace(spec, recurrence_day=spec.recurrence_day % 28 + 1)
    fewer_prices = dataclasses.replace(spec, prices={k: v for k, v in list(spec.prices.items())[:-1]})
    copied_price = dataclasses.replace(spec, prices={k: dataclasses.replace(v) for k, v in spec.prices.items()})
    for different in (moved, later_phase, other_day, copied_price):
        assert plan_key(different, day, on_demand) != key
    if len(spec.prices) > 1:
        assert plan_key(fewer_prices, day, on_demand) != key
    assert plan_key(spec, day + dt.timedelta(days=1), on_demand) != key
    assert plan_key(spec, day, {"on_demand": frozenset({day})}) != key or on_demand == {"on_demand": frozenset({day})}
