"""A seat balance set at exactly 00:00:00Z is the balance of that whole day (SPEC §4.7.1: b(t) includes an
event at exactly t; dayMax(d) is the largest b *during* d). The balance it replaced never held during that
day, so nothing built on dayMax or on the opening balance may charge for it."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billrun.domain.seats import SeatTimeline
from tests.unit.builders import d, data, invoice, price, rows, schedule, seat

CUSTOMER_ALIASES = frozenset({"cust-1", "cust-2"})


def seats_price(strategy: str, billing_type: str = "IN_ARREARS", minimum: int = 0) -> object:
    structure = {
        "pricingType": "SEAT_BASED",
        "seatMetricId": "editor",
        "pricePerSeat": "30",
        "prorationStrategy": strategy,
        "contractedMinimumSeats": minimum,
    }
    return price("seats", structure, billing_type=billing_type)


def test_a_drop_at_midnight_is_the_days_balance() -> None:
    timeline = SeatTimeline.build(
        [seat("editor", "2024-05-01T09:00:00Z", 7), seat("editor", "2024-05-11T00:00:00Z", 3)],
        "editor",
        CUSTOMER_ALIASES,
    )
    assert timeline.day_max(d("2024-05-10")) == 7
    assert timeline.day_max(d("2024-05-11")) == 3
    assert timeline.opening(d("2024-05-11")) == 3
    assert timeline.day_max(d("2024-05-12")) == 3


def test_a_change_at_the_end_instant_belongs_to_the_next_day() -> None:
    timeline = SeatTimeline.build([seat("editor", "2024-05-12T00:00:00Z", 9)], "editor", CUSTOMER_ALIASES)
    assert timeline.day_max(d("2024-05-11")) == 0 and timeline.day_max(d("2024-05-12")) == 9


def test_the_same_midnight_in_two_alias_streams() -> None:
    timeline = SeatTimeline.build(
        [
            seat("editor", "2024-05-01T00:00:00Z", 4, alias="cust-1"),
            seat("editor", "2024-05-01T00:00:00Z", 5, alias="cust-2"),
            seat("editor", "2024-05-02T00:00:00Z", 1, alias="cust-1"),
            seat("editor", "2024-05-02T00:00:00Z", 1, alias="cust-2"),
        ],
        "editor",
        CUSTOMER_ALIASES,
    )
    assert [timeline.day_max(d(f"2024-05-0{n}")) for n in (1, 2, 3)] == [9, 2, 2]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        # 7 seats for 05-01..05-10 (10 days), 3 for 05-11..05-31 (21 days): 7x10 + 3x21 = 133 seat-days x 30/31
        # (the old rule counted 7 seats on 05-11 too: 137 seat-days, 132.58)
        ("PRORATE_ALL_CHANGES", [("seats", "133", "0.9677419355", "128.71", "0.00")]),
        ("USE_MAXIMUM", [("seats", "7", "30", "210.00", "0.00")]),
    ],
)
def test_a_midnight_drop_is_not_charged_for_the_day_it_starts(strategy: str, expected: list[object]) -> None:
    src = data(seat_events=[seat("editor", "2024-04-20T09:00:00Z", 7), seat("editor", "2024-05-11T00:00:00Z", 3)])
    draft = invoice(schedule([seats_price(strategy)], start="2024-05-01"), "2024-06-01", src)  # type: ignore[list-item]
    assert sorted(rows(draft)) == sorted(expected)


def test_a_drop_at_the_period_start_is_the_opening_balance() -> None:
    """7 seats until exactly the period's first instant, 3 from it: only 3 were held during June."""
    src = data(seat_events=[seat("editor", "2024-05-20T09:00:00Z", 7), seat("editor", "2024-06-01T00:00:00Z", 3)])
    arrears = invoice(schedule([seats_price("PRORATE_INCREMENTS")], start="2024-06-01"), "2024-07-01", src)  # type: ignore[list-item]
    assert rows(arrears) == [("seats", "3", "30", "90.00", "0.00")]
    advance = schedule([seats_price("PRORATE_INCREMENTS", "IN_ADVANCE")], start="2024-06-01")  # type: ignore[list-item]
    assert rows(invoice(advance, "2024-06-01", src)) == [("seats", "3", "30", "90.00", "0.00")]


def brute_force_day_max(timeline_events: list[tuple[dt.datetime, str, int]], day: dt.date) -> int:
    """max b(t) over d's first instant and every event instant within d, b(t) summed over alias streams."""
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    end = start + dt.timedelta(days=1)
    instants = [start, *(ts for ts, _, _ in timeline_events if start <= ts < end)]

    def b(t: dt.datetime) -> int:
        streams: dict[str, tuple[dt.datetime, int]] = {}
        for ts, alias, total in timeline_events:  # in received order: a tie goes to the later one
            if ts <= t and (alias not in streams or ts >= streams[alias][0]):
                streams[alias] = (ts, total)
        return sum(total for _, total in streams.values())

    return max(b(t) for t in instants)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 4 * 24 * 4),  # quarter-hours over four days: midnights are common
            st.sampled_from(["cust-1", "cust-2"]),
            st.integers(0, 20),
        ),
        max_size=12,
    )
)
def test_day_max_is_the_brute_force_maximum(raw: list[tuple[int, str, int]]) -> None:
    base = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    events = [(base + dt.timedelta(minutes=15 * q), alias, total) for q, alias, total in raw]
    records = [
        seat("editor", ts.strftime("%Y-%m-%dT%H:%M:%SZ"), total, alias=alias, event_id=f"e{i}")
        for i, (ts, alias, total) in enumerate(events)
    ]
    timeline = SeatTimeline.build(records, "editor", CUSTOMER_ALIASES)
    for offset in range(5):
        day = d("2024-05-01") + dt.timedelta(days=offset)
        assert timeline.day_max(day) == brute_force_day_max(events, day), day
        assert timeline.opening(day) == brute_force_day_max(
            [e for e in events if e[0] <= dt.datetime.combine(day, dt.time(), dt.UTC)], day
        )
