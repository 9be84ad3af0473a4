"""billrun's JSON writer: exact decimals, and raw JSON parts written as they are."""

from __future__ import annotations

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
