"""The PostgreSQL aggregation against the domain reference (SPEC §5): a differential test over random event
sets, and last-received-wins under concurrent writers."""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from billrun.domain.inputs import AggregationType, MetricSpec
from billrun.domain.periods import DateRange
from billrun.domain.usage import UsageEventRecord, aggregate, per_event_values
from billrun.jsonutil import dumps, loads
from billrun.store import usage as usage_repo
from billrun.store.db import get_engine, unit_of_work
from billrun.store.events import NewUsageEvent, insert_usage_events
from billrun.store.models import Account, UsageEvent

pytestmark = pytest.mark.integration
JANUARY = DateRange(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
UTC = dt.UTC
INSTANTS = [
    dt.datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    dt.datetime(2024, 1, 1, tzinfo=UTC),
    dt.datetime(2024, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),  # 2023-12-31T23:30Z
    dt.datetime(2024, 1, 15, 12, tzinfo=UTC),
    dt.datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC),
    dt.datetime(2024, 2, 1, tzinfo=UTC),
    dt.datetime(2024, 2, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),  # 2024-01-31T22:30Z
]
VALUES = st.one_of(
    st.integers(-50, 500),
    st.decimals(min_value=-100, max_value=1000, places=3, allow_nan=False),
    st.sampled_from(
        [
            "12",
            "0.25",
            "-7",
            "+3",
            "1,000",
            "1 000",
            ".5",
            "5.",
            "1e3",
            "",
            "abc",
            True,
            False,
            None,
            {"x": 1},
            [1],
            Decimal("1E+3"),
            Decimal("1.50"),
            Decimal("1.5"),
        ]
    ),
)
REGIONS = st.sampled_from(["eu", "EU", "Eu", "us", "straße", "STRASSE", "ÉTÉ", "été", "ﬁ", "FI", 1, True, None])
PROPERTIES = st.fixed_dictionaries({}, optional={"n": VALUES, "region": REGIONS})
EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", None]),
        st.sampled_from(["cust", "alias2", "VOID", "other"]),
        st.sampled_from(["call", "job"]),
        st.sampled_from(INSTANTS),
        PROPERTIES,
    ),
    min_size=0,
    max_size=25,
)
METRICS = st.builds(
    lambda kind, filters, case_sensitive, negate: MetricSpec(
        "m", "call", AggregationType(kind), "n", filters, case_sensitive, frozenset(filters) if negate else frozenset()
    ),
    st.sampled_from(["COUNT", "SUM", "UNIQUE", "MAX"]),
    st.one_of(
        st.just({}),
        st.builds(
            lambda vs: {"region": tuple(vs)},
            st.lists(st.sampled_from(["eu", "EU", "strasse", "été", "fi", "1", "true"]), min_size=1, max_size=3),
        ),
    ),
    st.booleans(),
    st.booleans(),
)


def new_account(name: str) -> uuid.UUID:
    with unit_of_work() as s:
        account = Account(name=name)
        s.add(account)
        s.flush()
        return account.id


def _stored(account_id: uuid.UUID) -> list[UsageEventRecord]:
    with unit_of_work() as s:
        rows = s.execute(select(UsageEvent).where(UsageEvent.account_id == account_id)).scalars()
        return [
            UsageEventRecord(
                r.ingest_seq,
                r.customer_event_id,
                r.customer_alias,
                r.event_type,
                r.event_timestamp,
                loads(dumps(r.event_properties)),
                str(r.id),
            )
            for r in rows
        ]


@settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(events=EVENTS, split=st.integers(0, 25), metric=METRICS)
def test_sql_aggregation_equals_the_reference(
    database_url: str, events: list[Any], split: int, metric: MetricSpec
) -> None:
    account_id = new_account("example")
    new = [
        NewUsageEvent(event_id or str(uuid.uuid4()), alias, kind, when, props, generated_id=event_id is None)
        for event_id, alias, kind, when, props in events
    ]
    marks = []
    for batch in (new[:split], new[split:]):  # overrides across two batches as well as within one
        with unit_of_work() as s:
            insert_usage_events(s, account_id, batch, dt.datetime.now(UTC))
            marks.append(usage_repo.watermark(s))
    stored = _stored(account_id)
    aliases = frozenset({"cust", "alias2"})
    with unit_of_work() as s:
        got = usage_repo.aggregate(s, account_id, metric, aliases, JANUARY, with_ids=True)
        got_values = usage_repo.event_values(s, account_id, metric, aliases, JANUARY)
    expected = aggregate(stored, metric, aliases, JANUARY)
    assert (got.value, got.event_count, got.invalid_property_values) == (
        expected.value,
        expected.event_count,
        expected.invalid_property_values,
    )
    assert sorted(got.event_ids) == sorted(expected.event_ids)
    assert got.digest == expected.digest  # the digest the query sums is the domain's (SPEC §6.7)
    assert got_values == per_event_values(stored, metric, aliases, JANUARY)
    # what a calculation at the first batch's watermark counted, derived again after the second (SPEC §6.7)
    then = aggregate([e for e in stored if e.ingest_seq <= marks[0]], metric, aliases, JANUARY)
    with unit_of_work() as s:
        derived, changed = usage_repo.events_as_of(s, account_id, metric, aliases, JANUARY, marks[0])
    assert derived == list(then.event_ids)
    assert changed == (set(then.event_ids) != set(expected.event_ids))
    # the set-based form a chunk of billing runs uses: many (alias set, window) pairs in one query
    february = DateRange(dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    requests = [
        (aliases, JANUARY),
        (frozenset({"cust"}), JANUARY),
        (frozenset({"alias2", "other"}), february),
        (frozenset({"VOID"}), JANUARY),
        (frozenset(), JANUARY),
    ]
    with unit_of_work() as s:
        many = usage_repo.aggregate_many(s, account_id, metric, requests)
    for (alias_set, window), value in zip(requests, many, strict=True):
        reference = aggregate(stored, metric, frozenset(alias_set), window)
        assert (value.value, value.event_count, value.invalid_property_values) == (
            reference.value,
            reference.event_count,
            reference.invalid_property_values,
        )
        assert value.digest == reference.digest


def test_concurrent_writers_leave_one_latest_row_per_id(database_url: str) -> None:
    """N writers racing on overlapping customerEventIds: exactly one latest row per id, the highest ingestSeq."""
    account_id = new_account("race")
    ids = [f"id-{i}" for i in range(40)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for round_ in range(5):
                batch = [
                    NewUsageEvent(
                        ids[(n * 7 + round_ * 3 + k) % len(ids)],
                        f"alias-{n}",
                        "call",
                        dt.datetime(2024, 1, 2, tzinfo=UTC),
                        {"writer": n},
                    )
                    for k in range(25)
                ]
                with unit_of_work() as s:
                    insert_usage_events(s, account_id, batch, dt.datetime.now(UTC))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with unit_of_work() as s:
        rows = s.execute(
            text(
                "SELECT customer_event_id, count(*) FILTER (WHERE is_latest), "
                "max(ingest_seq), max(ingest_seq) FILTER (WHERE is_latest) "
                "FROM usage_events WHERE account_id = :a GROUP BY customer_event_id"
            ),
            {"a": account_id},
        ).all()
    assert len(rows) == len(ids)
    for event_id, latest_count, highest, latest_seq in rows:
        assert latest_count == 1, event_id
        assert latest_seq == highest, event_id


def explained(session: Session) -> list[str]:
    """The plans (EXPLAIN ANALYZE text) of the statements the session's transaction runs from now on, as
    auto_explain reports them."""
    plans: list[str] = []
    session.execute(text("LOAD 'auto_explain'"))
    for setting in ("log_min_duration = 0", "log_analyze = on", "log_level = notice"):
        session.execute(text(f"SET LOCAL auto_explain.{setting}"))
    session.execute(text("SET LOCAL client_min_messages = notice"))
    raw = session.connection().connection.driver_connection
    assert raw is not None
    raw.add_notice_handler(lambda diagnostic: plans.append(diagnostic.message_primary or ""))
    return plans


def test_a_repost_retires_the_previous_rows_by_one_probe_per_id(database_url: str) -> None:
    """Re-posting ids retires their previous rows by looking each id up, whatever the statistics say. Written
    as ``customer_event_id = ANY(:ids)``, the statement got a plan that read every latest row of an account
    grown since the last ANALYZE and filtered them (a batch cost more with each batch before it). The real
    statement's plan is read back through auto_explain."""
    account_id = new_account("stale-statistics")
    stamp = dt.datetime(2024, 1, 2, tzinfo=UTC)
    with unit_of_work() as s:
        s.execute(text("ANALYZE usage_events"))  # statistics from before this account had an event
        first = [NewUsageEvent(f"evt-{i}", "cust", "call", stamp, {}) for i in range(3000)]
        insert_usage_events(s, account_id, first, dt.datetime.now(UTC))
        plans = explained(s)
        again = [NewUsageEvent(f"evt-{i}", "cust", "call", stamp, {}) for i in (5, 500, 1500, 2999)]
        _, superseded = insert_usage_events(s, account_id, again, dt.datetime.now(UTC))
    assert len(superseded) == 4
    (retire,) = [plan for plan in plans if "SET is_latest = false" in plan]
    filtered = [int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", retire)]
    assert max(filtered, default=0) < 4, retire


def test_the_event_tables_are_analysed_after_a_fixed_number_of_changes(database_url: str) -> None:
    """PostgreSQL's default (a tenth of the table changed) leaves an account that joined a large table unknown
    to the planner for millions of events, and its usage then reads every event of the account (migration
    0015 measures it): the event tables carry a fixed threshold instead."""
    with unit_of_work() as s:
        options = dict(
            s.execute(
                text(
                    "SELECT relname, reloptions FROM pg_class "
                    "WHERE relname IN ('usage_events', 'seat_events') AND relkind IN ('r', 'p')"
                )
            ).all()
        )
    for table in ("usage_events", "seat_events"):
        assert set(options[table] or ()) >= {
            "autovacuum_analyze_scale_factor=0",
            "autovacuum_analyze_threshold=50000",
        }


def test_a_count_metric_is_aggregated_by_an_index_only_scan_of_the_lookup_index(database_url: str) -> None:
    """A COUNT metric needs each counted event's id only (its count and digest): the lookup index includes it
    (migration 0017), so that a vacuumed month's events are counted without a heap page per event. The real
    statement's plan is read back through auto_explain."""
    account_id = new_account("index-only")
    stamp = dt.datetime(2024, 1, 2, tzinfo=UTC)
    with unit_of_work() as s:
        events = [NewUsageEvent(f"evt-{i}", f"cust-{i % 7}", "call", stamp, {}) for i in range(700)]
        insert_usage_events(s, account_id, events, dt.datetime.now(UTC))
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) usage_events"))  # as autovacuum does while the month goes by
    metric = MetricSpec("m", "call", AggregationType.COUNT, None, {}, True, frozenset())
    january = DateRange(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    with unit_of_work() as s:
        s.execute(text("SET LOCAL enable_seqscan = off"))  # a test table is small enough to read whole
        s.execute(text("SET LOCAL enable_bitmapscan = off"))
        plans = explained(s)
        values = usage_repo.aggregate_many(s, account_id, metric, [([f"cust-{i}"], january) for i in range(7)])
    assert [v.value for v in values] == [Decimal(100)] * 7
    (plan,) = [plan for plan in plans if "JOIN usage_events" in plan]
    # (how many heap pages it still visits depends on the visibility map, which other sessions of the test
    # database may hold back)
    assert "Index Only Scan using ix_usage_events_latest_lookup" in plan, plan
