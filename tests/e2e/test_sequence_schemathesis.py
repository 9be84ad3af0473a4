"""Sequence's published OpenAPI driven against the real server by schemathesis, restricted to the operations
billrun serves: no server error and no response a client generated from Sequence's spec would reject, apart
from the written allow-list in tests/sequence_contract.py. Path parameters name the objects of a world made
from Sequence's own examples (tests/sequence_world.py), so the checks read real invoices, schedules and runs,
not only 404s. Bounded to keep CI short: BILLRUN_SCHEMATHESIS_EXAMPLES raises the examples per operation and
BILLRUN_SCHEMATHESIS_COVERAGE=1 adds schemathesis' coverage phase.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import create_account
from tests.sequence_contract import FULL, PRODUCT, corrected_spec, served_operations
from tests.sequence_world import World, build_world

pytestmark = pytest.mark.e2e

#: The literal path segment before a parameter -> the world's object it names.
_NAMED_BY = {
    "customers": "customer",
    "contacts": "contact",
    "by-alias": "alias",
    "prices": "price",
    "products": "product",
    "seat-metrics": "seat_metric",
    "usage-metrics": "metric",
    "tax-rates": "tax_rate",
    "customer-aliases": "alias_id",
    "billing-schedules": "schedule",
    "invoices": "manual",
    "line-items": "line",
    "line-item-groups": "group",
    "billing-runs": "run",
    "time-travellers": "traveller",
    "usage-events": "usage_event",
    "seat-events": "seat_event",
    "accounts": "account",
}
_FIXED = {"versions": "1", "for-date": "2022-03-01"}
#: Left out of the schemathesis run, each with why and where it is checked instead.
_NOT_DRIVEN = {
    # Schemathesis 4.32.5 on CPython 3.11 intermittently generates no case at all for this multipart upload
    # (measured: 2 runs of 4 with the same seed; once with "SystemError: AST constructor recursion depth
    # mismatch" from its generator), so "every operation tested" could not be asserted. Multipart and text/csv
    # uploads, good and bad, are driven by tests/e2e/test_event_ingestion.py and the own-spec fuzz run.
    "postUsageEventsCsv",
}


def _path_values(path: str, ids: dict[str, str]) -> dict[str, str]:
    segments = path.strip("/").split("/")
    values = {}
    for before, segment in itertools.pairwise(segments):
        if segment.startswith("{"):
            value = _FIXED.get(before) or ids.get(_NAMED_BY.get(before, ""))
            if value is not None:
                values[f"path.{segment[1:-1]}"] = value
    return values


def _config(operations: dict[str, tuple[str, str]], ids: dict[str, str], examples: int) -> str:
    lines = [f"generation.max-examples = {examples}", ""]
    for operation_id, (method, path) in sorted(operations.items()):
        values = {} if method == "delete" else _path_values(path, ids)  # deletes run on unknown ids: 404s
        if values:
            lines += ["[[operations]]", f"include-operation-id = {json.dumps(operation_id)}"]
            lines += ["parameters = { " + ", ".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in values.items())]
            lines[-1] += " }"
            lines.append("")
    return "\n".join(lines)


def _run(source: Path, operations: dict[str, tuple[str, str]], world: World, base: str, auth: str, tmp: Path) -> str:
    spec_file = tmp / source.name
    spec_file.write_text(json.dumps(corrected_spec(source)))
    examples = int(os.environ.get("BILLRUN_SCHEMATHESIS_EXAMPLES", "5"))
    # The coverage phase (about 9,600 deterministic cases for the product spec, 2.5 minutes here) runs when
    # asked: its negative cases are what the hostile-input suite sends to every field of billrun's operations.
    phases = "examples,coverage,fuzzing,stateful" if os.environ.get("BILLRUN_SCHEMATHESIS_COVERAGE") else None
    config = tmp / f"{source.stem}.toml"
    config.write_text(_config(operations, world.ids, examples))
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    command = [executable, "--config-file", str(config), "run", str(spec_file), "--url", base, "--auth", auth]
    command += [f"--include-operation-id={operation_id}" for operation_id in sorted(operations)]
    command += ["--checks", "not_a_server_error,response_schema_conformance", "--seed", "20261201"]
    command += ["--request-timeout", "30", "--workers", "2", "--no-shrink", "--suppress-health-check", "all"]
    command += ["--phases", phases or "examples,fuzzing,stateful"]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "NO_COLOR": "1"},
        cwd=tmp,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    return result.stdout


def test_sequence_spec_finds_no_server_error_and_no_schema_violation(api_base_url: str, tmp_path: Path) -> None:
    credentials = create_account("sequence-contract", "--rate-limit", "0")
    auth = f"{credentials['apiKey']}:{credentials['apiSecret']}"
    with httpx.Client(
        base_url=api_base_url, auth=(credentials["apiKey"], credentials["apiSecret"]), timeout=60
    ) as client:
        world = build_world(client)
        world.ids["account"] = credentials["id"]
        billrun_paths: dict[str, Any] = {
            path.removeprefix("/api"): list(item) for path, item in client.get("/openapi.json").json()["paths"].items()
        }
    product = served_operations(PRODUCT, billrun_paths)
    older = {k: v for k, v in served_operations(FULL, billrun_paths).items() if v not in product.values()}
    product, older = ({k: v for k, v in ops.items() if k not in _NOT_DRIVEN} for ops in (product, older))
    assert len(product) >= 60 and len(older) >= 20, (sorted(product), sorted(older))
    for source, operations in ((PRODUCT, product), (FULL, older)):
        output = _run(source, operations, world, api_base_url, auth, tmp_path)
        assert f"Tested: {len(operations)}" in output, output[-3000:]
