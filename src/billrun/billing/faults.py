"""Named points in a billing run where a crash test stops the process (SPEC §6.5): "computed" (the invoice is
computed, nothing written), "before-commit" (written, not committed), "after-commit".

Production never installs a hook: :func:`reached` is one ``None`` check. The SIGKILL tests install one from
the environment of the worker they start (``BILLRUN_TEST_PAUSE_AT``/``_FILE``/``RESUME_FILE``), so no test
code runs inside the use cases.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

Hook = Callable[[str, uuid.UUID], None]

_hook: Hook | None = None


def reached(stage: str, run_id: uuid.UUID) -> None:
    if _hook is not None:
        _hook(stage, run_id)


def install(hook: Hook | None) -> None:
    global _hook
    _hook = hook


def pause_at(stage: str, marker: str, resume: str | None = None) -> Hook:
    """A hook that stops at ``stage`` after writing the run id to ``marker``, so that a test can SIGKILL the
    process at exactly that point, or act and then let it go on by creating ``resume`` (without it, it waits
    forever)."""

    def hook(current: str, run_id: uuid.UUID) -> None:
        if current == stage:
            Path(marker).write_text(str(run_id))
            while resume is None or not Path(resume).exists():
                time.sleep(0.1)

    return hook


def install_from_environment(environ: Mapping[str, str] = os.environ) -> None:
    if stage := environ.get("BILLRUN_TEST_PAUSE_AT"):
        install(pause_at(stage, environ["BILLRUN_TEST_PAUSE_FILE"], environ.get("BILLRUN_TEST_RESUME_FILE")))
