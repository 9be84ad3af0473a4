"""The project owns its copy of the acceptance scenarios (tests/acceptance/); this keeps it identical to the
shared ones when they are beside the repository, so new shared cases are picked up."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ROOT / "tests" / "acceptance" / "scenarios"
SHARED = ROOT.parent / "shared" / "scenarios"


def test_the_project_carries_its_scenarios() -> None:
    assert len(list(OURS.glob("*.json"))) >= 30


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared/scenarios beside this clone")
def test_every_shared_scenario_is_in_the_project_byte_for_byte() -> None:
    missing = [p.name for p in sorted(SHARED.iterdir()) if p.is_file() and not (OURS / p.name).is_file()]
    differing = [
        p.name
        for p in sorted(SHARED.iterdir())
        if p.is_file() and (OURS / p.name).is_file() and (OURS / p.name).read_bytes() != p.read_bytes()
    ]
    assert (missing, differing) == ([], []), "copy them: cp ../shared/scenarios/* tests/acceptance/scenarios/"
