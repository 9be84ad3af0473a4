"""Every acceptance scenario, run over HTTP against a real API server and a real Celery worker. The files are
the project's copy in tests/acceptance/scenarios/ (format: its README.md), kept identical to the shared ones
by tests/unit/test_acceptance_copy.py."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Api, wait_until

SCENARIOS = Path(__file__).resolve().parents[1] / "acceptance" / "scenarios"
TEMPLATE = re.compile(r"\{\{([^}]+)\}\}")
pytestmark = pytest.mark.e2e


def scenario_files() -> list[Path]:
    files = sorted(SCENARIOS.glob("*.json"))
    assert files, f"no scenarios found in {SCENARIOS}"
    return files


def lookup(saved: dict[str, Any], path: str) -> Any:
    value: Any = saved
    for part in path.strip().split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def render(value: Any, saved: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = TEMPLATE.fullmatch(value)
        if whole:
            return lookup(saved, whole.group(1))
        return TEMPLATE.sub(lambda m: str(lookup(saved, m.group(1))), value)
    if isinstance(value, list):
        return [render(v, saved) for v in value]
    if isinstance(value, dict):
        return {k: render(v, saved) for k, v in value.items()}
    return value


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+(\.\d+)?", value):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return None


def mismatches(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Subset match: keys given must be present and equal; lists match in length and order; decimal strings
    compare by numeric value."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or '.'}: expected an object, got {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems.extend(mismatches(value, actual[key], f"{path}.{key}"))
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} element(s), got {json.dumps(actual)[:800]}"]
        return [
            p for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for p in mismatches(e, a, f"{path}[{i}]")
        ]
    left, right = _decimal(expected), _decimal(actual)
    if left is not None and right is not None and not isinstance(expected, bool):
        return [] if left == right else [f"{path}: expected {expected!r}, got {actual!r}"]
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {actual!r}"]


def _schedule_ids(saved: dict[str, Any]) -> list[str]:
    return sorted(
        {v["id"] for v in saved.values() if isinstance(v, dict) and "phases" in v and "recurrenceDayOfMonth" in v}
    )


def _preview_before_travel(api: Api, saved: dict[str, Any], frozen_time: str) -> list[tuple[str, dict[str, Any]]]:
    """Each saved schedule's next invoice (``POST /billing-schedules/{id}/preview``) that the travel to
    ``frozen_time`` will draft, previewed before the travel, with its drafting date."""
    due = []
    for schedule_id in _schedule_ids(saved):
        response = api.post(f"/billing-schedules/{schedule_id}/preview", {})
        if response.status_code != 200:  # no drafting date left, or a schedule a later step refuses
            continue
        body = response.json()
        if body["date"] <= frozen_time[:10]:
            due += [(body["date"], invoice) for invoice in body["invoices"]]
    return due


def _same_as_drafted(api: Api, date: str, previewed: dict[str, Any]) -> bool:
    """The invoice the run of ``date`` drafted has the previewed lines and totals (False: that run has not
    drafted yet, being due later that day)."""
    schedule = previewed["billingScheduleId"]
    runs = api.get(
        f"/billing-runs?billingScheduleId={schedule}&intendedDraftingDateFrom={date}&intendedDraftingDateTo={date}"
    ).json()["items"]
    drafted = [r["invoiceId"] for r in runs if r.get("invoiceId")]
    if not drafted:
        return False
    invoice = api.get(f"/invoices/{drafted[0]}").json()
    lines = api.get(f"/invoices/{drafted[0]}/line-items").json()["items"]

    def rows(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted((i["title"], i["quantity"], i["rate"], i["netTotal"], i["totalTax"]) for i in items)

    assert rows([line for line in lines if line.get("source") != "MANUAL"]) == rows(previewed["lineItems"])
    assert [invoice[k] for k in ("netTotal", "totalTax")] == [previewed[k] for k in ("netTotal", "totalTax")]
    return True


def run_scenario(api: Api, scenario: dict[str, Any]) -> int:
    """Run the steps; before each move of a time traveller, preview the invoices it will draft and check the
    run drafts exactly them. Returns how many previews were checked against a drafted invoice."""
    saved: dict[str, Any] = {}
    compared = 0
    for number, step in enumerate(scenario["steps"]):
        method, _, path = render(step["call"], saved).partition(" ")
        body = render(step["body"], saved) if "body" in step else None
        travel = method == "PUT" and "/time-travellers/" in path and "wait" in step
        previews = _preview_before_travel(api, saved, body["frozenTime"]) if travel and body else []
        response = api.request(method, path, body)
        where = f"step {number} ({step['call']})"
        expect = step.get("expect", {})
        if "status" in expect:
            assert response.status_code == expect["status"], f"{where}: {response.status_code} {response.text[:1500]}"
        else:
            assert 200 <= response.status_code < 300, f"{where}: {response.status_code} {response.text[:1500]}"
        payload = response.json() if response.content else None
        if "wait" in step:
            traveller = path.split("?")[0].rstrip("/")
            if not re.search(r"/time-travellers/[^/]+$", traveller):
                traveller = f"/time-travellers/{payload['id']}"

            def reached(target: str = step["wait"], url: str = traveller) -> bool:
                return bool(api.get(url).json()["status"] == target)

            wait_until(reached, timeout=60)
            compared += sum(_same_as_drafted(api, date, previewed) for date, previewed in previews)
        if "body" in expect:
            problems = mismatches(expect["body"], payload)
            assert not problems, f"{where}:\n" + "\n".join(problems[:20])
        if "save" in step:
            saved[step["save"]] = payload
    return compared


@pytest.mark.parametrize("path", scenario_files(), ids=lambda p: p.stem)
def test_scenario(api: Api, path: Path) -> None:
    compared = run_scenario(api, json.loads(path.read_text()))
    PREVIEWS_COMPARED[path.stem] = compared


#: scenario -> previews checked against the invoice its run drafted
PREVIEWS_COMPARED: dict[str, int] = {}


def test_previews_were_checked_against_drafted_invoices() -> None:
    """Runs after the scenarios (file order): the preview comparison above was not vacuous."""
    if len(PREVIEWS_COMPARED) < len(scenario_files()):
        pytest.skip("run with every scenario to count the previews checked")
    assert sum(PREVIEWS_COMPARED.values()) >= 20, PREVIEWS_COMPARED
