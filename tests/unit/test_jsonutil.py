"""billrun's JSON writer: exact decimals, and raw JSON parts written as they are."""

from __future__ import annotations

import sys
import threading
import uuid
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billrun.jsonutil import RawJson, dumps, loads

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.decimals(allow_nan=False, allow_infinity=False, places=6)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(value=json_values, outer=json_values)
def test_a_raw_part_reads_back_as_the_value_it_was_made_from(value: object, outer: object) -> None:
    document = {"part": RawJson(dumps(value)), "list": [RawJson(dumps(value)), outer], "outer": outer}
    assert loads(dumps(document)) == loads(dumps({"part": value, "list": [value, outer], "outer": outer}))


def test_decimals_keep_their_digits_next_to_raw_parts() -> None:
    text = dumps({"raw": RawJson('{"a":1.50}'), "amount": Decimal("2.10"), "id": uuid.UUID(int=1)})
    assert text == '{"raw":{"a":1.50},"amount":2.10,"id":"00000000-0000-0000-0000-000000000001"}'


def test_raw_parts_under_keys_the_c_encoder_refuses() -> None:
    """Keys that are not strings take the pure-Python writer, which writes raw parts too."""
    assert dumps({uuid.UUID(int=2): RawJson("[1,2]")}) == '{"00000000-0000-0000-0000-000000000002":[1,2]}'


def test_threads_writing_decimals_at_once_each_get_their_own_digits() -> None:
    """The encoder is shared and what it meets is kept per thread: documents written on eight threads at once,
    each full of decimals, come back with their own digits (the API writes responses on a thread pool)."""
    failures: list[str] = []

    def write(n: int) -> None:
        for i in range(300):
            document = {"thread": n, "amounts": [Decimal(f"{n}.{i:03d}{k}") for k in range(20)]}
            expected = "[" + ",".join(f"{n}.{i:03d}{k}" for k in range(20)) + "]"
            text = dumps(document)
            if expected not in text:
                failures.append(text)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads taking turns inside one another's writes, as a loaded server's do
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
