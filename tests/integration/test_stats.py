"""Planner statistics of tables that fill up during a billing run (billrun.store.stats)."""

from __future__ import annotations

import uuid

from sqlalchemy import text


def test_a_table_without_statistics_is_analysed_once(database_url: str) -> None:
    from billrun.store import stats
    from billrun.store.db import unit_of_work

    name = f"stats_probe_{uuid.uuid4().hex[:8]}"
    with unit_of_work() as s:
        s.execute(text(f"CREATE TABLE {name} (id int PRIMARY KEY)"))
        s.execute(text(f"INSERT INTO {name} SELECT generate_series(1, 500)"))
    try:
        assert stats.analyze_if_unanalysed([name]) == [name]
        with unit_of_work() as s:
            reltuples = s.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)"), {"name": name}
            ).scalar_one()
            plan = "\n".join(s.execute(text(f"EXPLAIN SELECT 1 FROM {name} WHERE id = 7")).scalars())
        assert reltuples == 500
        assert "Index" in plan  # the lookup a foreign-key check makes probes the key once the table is known
        assert stats.analyze_if_unanalysed([name]) == []  # known now: this process does not look again
    finally:
        with unit_of_work() as s:
            s.execute(text(f"DROP TABLE {name}"))
