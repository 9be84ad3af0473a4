"""pyproject.toml lists billrun's packages explicitly (the migrations folder is mapped into the package):
the list must name every package under src/, or an installed billrun would miss modules."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_under_src_is_in_the_wheel() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT / "src").parts) for init in (ROOT / "src").rglob("__init__.py")}
    assert on_disk <= listed, sorted(on_disk - listed)
    assert {"billrun.migrations", "billrun.migrations.versions"} <= listed
    assert listed - on_disk == {"billrun.migrations", "billrun.migrations.versions"}
