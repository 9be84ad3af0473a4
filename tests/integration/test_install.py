"""billrun installed the way users install it: the wheel built from this repository, in a fresh virtual
environment (no ``-e``, no extras), against the test PostgreSQL and Redis; and the beat as a deployment runs
it, as an unprivileged user from a directory it cannot write."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import make_url

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _interpreter() -> str:
    """A Python 3.11+ that every user can execute (Debian's, where present: a root-only pyenv under /root
    cannot be run by the unprivileged beat below)."""
    system = shutil.which("python3", path="/usr/local/bin:/usr/bin")
    if system:
        probe = subprocess.run(
            [system, "-c", "import sys, venv, ensurepip; assert sys.version_info >= (3, 11)"], capture_output=True
        )
        if probe.returncode == 0:
            return system
    return sys.executable


@pytest.fixture(scope="module")
def installed(servers: dict[str, str]) -> Iterator[Path]:
    """The ``bin`` directory of a fresh venv holding only the wheel and its runtime dependencies."""
    root = Path(tempfile.mkdtemp(prefix="billrun-wheel-"))
    root.chmod(0o755)  # our own directory: the unprivileged beat must reach the venv inside it
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(REPO)],
            check=True,
            capture_output=True,
        )
        (wheel,) = (root / "dist").glob("billrun-*.whl")
        subprocess.run([_interpreter(), "-m", "venv", str(root / "venv")], check=True)
        bin_dir = root / "venv" / "bin"
        subprocess.run([bin_dir / "pip", "install", "-q", str(wheel)], check=True, capture_output=True)
        yield bin_dir
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BILLRUN_", "PYTHON", "VIRTUAL_ENV"))}
    return {**env, **extra}


def test_the_wheel_installs_migrates_and_runs_the_demo(
    installed: Path, scratch_database: str, servers: dict[str, str], tmp_path: Path
) -> None:
    broker = make_url(servers["broker_url"]).set(database="8").render_as_string(hide_password=False)
    env = _clean_env(BILLRUN_DATABASE_URL=scratch_database, BILLRUN_BROKER_URL=broker, BILLRUN_DATA_DIR=str(tmp_path))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [installed / "billrun", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )

    version = run("--version")
    assert version.returncode == 0 and version.stdout.startswith("billrun "), version.stderr
    upgraded = run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "applied 0001: initial schema" in upgraded.stdout
    demo = run("demo")
    assert demo.returncode == 0, demo.stderr[-3000:]
    invoice = json.loads(demo.stdout)["invoice"]
    assert (invoice["netTotal"], invoice["totalTax"], invoice["grossTotal"]) == ("150.00", "30.00", "180.00")
    # the wheel carries the templates: the demo leaves the invoice as a page and as a PDF
    page = (tmp_path / "demo-invoice.html").read_text()
    assert 'id="gross-total">£180.00<' in page and "Editor seat" in page
    assert (tmp_path / "demo-invoice.pdf").read_bytes().startswith(b"%PDF")
    assert "demo-invoice.pdf" in demo.stderr
    # no embedded servers in a plain install: asking for one says what to install instead
    embedded = subprocess.run(
        [installed / "billrun", "db", "current"],
        env=_clean_env(BILLRUN_DATA_DIR=str(tmp_path / "embedded")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert embedded.returncode == 1 and "billrun[embedded]" in embedded.stderr, embedded.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root and runuser")
def test_beat_as_an_unprivileged_user_from_an_unwritable_directory_ticks(
    installed: Path, servers: dict[str, str]
) -> None:
    """As the systemd unit and the Dockerfile run it: BILLRUN_DATA_DIR owned by the user, a working directory
    it cannot write. A broker database of its own, so that no other test's worker takes the tick."""
    broker = make_url(servers["broker_url"]).set(database="7").render_as_string(hide_password=False)
    queue = redis.Redis.from_url(broker)
    queue.delete("celery")
    state = Path(tempfile.mkdtemp(prefix="billrun-beat-"))
    shutil.chown(state, user="nobody")
    env = _clean_env(
        BILLRUN_DATABASE_URL=servers["database_url"],
        BILLRUN_BROKER_URL=broker,
        BILLRUN_DATA_DIR=str(state),
        BILLRUN_TICK_SECONDS="1",
        HOME="/nonexistent",
    )
    beat = subprocess.Popen(
        ["runuser", "-u", "nobody", "--", str(installed / "billrun"), "beat"],
        cwd="/",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while queue.llen("celery") == 0 and beat.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert beat.poll() is None, beat.communicate()[0][-3000:]
        message = json.loads(queue.lindex("celery", 0) or b"{}")
        assert message["headers"]["task"] == "billrun.tick"
        assert any(state.glob("celerybeat-schedule*"))
    finally:
        beat.terminate()
        beat.wait(timeout=30)
        queue.delete("celery")
        shutil.rmtree(state, ignore_errors=True)
