"""Event ingestion over HTTP: every invalid case of SPEC §5.4 and §5.6, single and batch and CSV, with the
exact error codes; valid rows of mixed batches stored; dedup visible in listings."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e
GOOD = {"customerAlias": "c1", "eventType": "call", "eventTimestamp": "2024-01-10T12:00:00Z"}


def _codes(response: Any) -> dict[str, str]:
    return {e["key"]: e["code"] for e in response.json()["error"]["errors"]}


@pytest.mark.parametrize(
    ("change", "key", "code"),
    [
        ({"customerAlias": None}, "customerAlias", "required"),
        ({"customerAlias": "   "}, "customerAlias", "blank"),
        ({"eventType": ""}, "eventType", "blank"),
        ({"eventTimestamp": "2024-13-01T00:00:00Z"}, "eventTimestamp", "invalidTimestamp"),
        ({"eventTimestamp": "2024-01-10T12:00:00"}, "eventTimestamp", "invalidTimestamp"),
        ({"eventTimestamp": "yesterday"}, "eventTimestamp", "invalidTimestamp"),
        ({"eventProperties": [1, 2]}, "eventProperties", "invalidType"),
        ({"customerEventId": "x" * 256}, "customerEventId", "tooLong"),
        ({"customerAlias": "x" * 256}, "customerAlias", "tooLong"),
        ({"eventProperties": {f"k{i}": i for i in range(101)}}, "eventProperties", "outOfRange"),
        ({"eventProperties": {"note": "a\u0000b"}}, "eventProperties.note", "invalidFormat"),
        ({"customerAlias": "nul\u0000"}, "customerAlias", "invalidFormat"),
    ],
)
def test_single_usage_event_errors(api: Api, change: dict[str, Any], key: str, code: str) -> None:
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    response = api.post("/usage-events", body)
    assert response.status_code == 400
    assert _codes(response) == {key: code}
    assert api.get("/usage-events").json()["pagination"]["totalResultSize"] == 0


def test_every_bad_field_is_reported_at_once(api: Api) -> None:
    response = api.post("/usage-events", {"eventTimestamp": "nope", "eventProperties": "x"})
    assert _codes(response) == {
        "customerAlias": "required",
        "eventType": "required",
        "eventTimestamp": "invalidTimestamp",
        "eventProperties": "invalidType",
    }


def test_invalid_numbers_are_stored_not_rejected(api: Api) -> None:
    for value in ["1,000", "1,5", "$5", ".5", "5.", "1e3", "", True, None, {"a": 1}]:
        response = api.post("/usage-events", {**GOOD, "eventProperties": {"amount": value}})
        assert response.status_code == 201, value
        assert response.json()["eventProperties"] == {"amount": value}


def test_batch_keeps_valid_rows_and_reports_each_bad_one(api: Api) -> None:
    events = [
        dict(GOOD, customerEventId="ok-0"),
        dict(GOOD, eventTimestamp="2024-13-01T00:00:00Z"),
        dict(GOOD, customerEventId="ok-2"),
        {"eventType": "call"},
    ]
    response = api.post("/usage-events/batch", {"events": events})
    assert response.status_code == 207
    body = response.json()
    assert [(i["index"], i["customerEventId"]) for i in body["items"]] == [(0, "ok-0"), (2, "ok-2")]
    assert [(e["index"], [x["key"] for x in e["errors"]]) for e in body["errors"]] == [
        (1, ["events[1].eventTimestamp"]),
        (3, ["events[3].customerAlias"]),
    ]
    all_bad = api.post("/usage-events/batch", {"events": [{"eventType": ""}]})
    assert all_bad.status_code == 400
    assert {"events[0].customerAlias", "events[0].eventType"} <= set(_codes(all_bad))
    for body_ in ({"events": []}, {"events": [GOOD] * 1001}, [GOOD], {"events": "x"}):
        assert api.post("/usage-events/batch", body_).status_code == 400
    assert api.get("/usage-events").json()["pagination"]["totalResultSize"] == 2


def test_last_received_wins_and_void(api: Api) -> None:
    api.post("/usage-events", dict(GOOD, customerEventId="e1", eventProperties={"n": 1}))
    api.post("/usage-events", dict(GOOD, customerEventId="e1", eventProperties={"n": 2}))
    api.post("/usage-events", dict(GOOD, customerEventId="e1", customerAlias="VOID"))
    listed = api.get("/usage-events?customerEventId=e1&sortOrder=ASC").json()["items"]
    assert [(e["customerAlias"], e["isLatestForCustomerEventId"]) for e in listed] == [
        ("c1", False),
        ("c1", False),
        ("VOID", True),
    ]


def test_csv_upload(api: Api) -> None:
    csv_text = (
        "customerAlias,eventType,eventTimestamp,customerEventId,amount\n"
        "c1,call,2024-01-10T12:00:00Z,r1,5\n"
        "c1,call,not-a-time,r2,6\n"
        "c1,call,2024-01-11T12:00:00Z,,\n"
    )
    response = api.client.post("/usage-events/csv", content=csv_text.encode(), headers={"Content-Type": "text/csv"})
    assert response.status_code == 207, response.text
    body = response.json()
    assert [i["row"] for i in body["items"]] == [2, 4]
    assert body["items"][0]["eventProperties"] == {"amount": "5"} and body["items"][1]["eventProperties"] == {}
    assert [e["row"] for e in body["errors"]] == [3]
    multipart = api.client.post("/usage-events/csv", files={"file": ("e.csv", csv_text.encode(), "text/csv")})
    assert multipart.status_code == 207
    missing = api.client.post(
        "/usage-events/csv", content=b"customerAlias,eventType\nc1,call\n", headers={"Content-Type": "text/csv"}
    )
    assert missing.status_code == 400
    # What a fuzzer sends a multipart upload: bytes that are not UTF-8, no 'file' part, a body that is not
    # multipart at all under a multipart content type. Each is the client's error, named on 'file'.
    binary = api.client.post("/usage-events/csv", files={"file": ("e.csv", b"\xff\xfe\x00garbage", "text/csv")})
    no_file = api.client.post("/usage-events/csv", files={"other": ("e.csv", csv_text.encode(), "text/csv")})
    broken = api.client.post(
        "/usage-events/csv", content=b"--x\r\nnot a part", headers={"Content-Type": "multipart/form-data; boundary=x"}
    )
    for refused in (binary, no_file, broken):
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["errors"][0]["key"] == "file", refused.text


def test_seat_event_errors(api: Api) -> None:
    api.post("/seat-metrics", {"seatType": "editor", "label": "Editor"})
    good = {"customerAlias": "c1", "seatType": "editor", "eventTimestamp": "2024-01-01T00:00:00Z", "total": "3"}
    assert api.post("/seat-events", good).json()["total"] == 3
    cases = [
        ({"total": -1}, "total", "outOfRange"),
        ({"total": 1.5}, "total", "invalidType"),
        ({"total": "x"}, "total", "invalidType"),
        ({"seatType": "viewer"}, "seatType", "unknownReference"),
        ({"eventTimestamp": "2024-01-01"}, "eventTimestamp", "invalidTimestamp"),
    ]
    for change, key, code in cases:
        response = api.post("/seat-events", {**good, **change})
        assert response.status_code == 400 and _codes(response) == {key: code}, change
    batch = api.post("/seat-events/batch", {"events": [good, {**good, "total": -2}]})
    assert batch.status_code == 207 and batch.json()["errors"][0]["index"] == 1
    balances = api.get("/seat-balances?customerAliases=c1").json()
    assert balances["items"] == []  # c1 maps to no customer yet: balances are for mapped customers only
