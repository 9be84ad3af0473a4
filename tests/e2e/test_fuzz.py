"""A bounded schemathesis run against /api/openapi.json on the real server: no 5xx, no response that violates
the schema (issue: "bad input gets a clear, specific error, never a 500")."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import create_account

pytestmark = pytest.mark.e2e


def test_schemathesis_finds_no_server_error(api_base_url: str, tmp_path: Path) -> None:
    credentials = create_account("fuzz", "--rate-limit", "0")
    token = base64.b64encode(f"{credentials['apiKey']}:{credentials['apiSecret']}".encode()).decode()
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    result = subprocess.run(
        [
            executable,
            "run",
            f"{api_base_url}/openapi.json",
            "-H",
            f"Authorization: Basic {token}",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "12",
            # schemathesis' coverage phase (its ~10,000 deterministic negative cases, two minutes) repeats the
            # hostile-input sweep of test_hostile_input.py, which sends such values to every field of every
            # operation; the examples, fuzzing and stateful phases stay
            "--phases",
            "examples,fuzzing,stateful",
            "--seed",
            "20241122",
            "--request-timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
        cwd=tmp_path,
        check=False,
    )
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert "passed" in summary
