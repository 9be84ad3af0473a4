"""Apply Alembic migrations programmatically (``billrun db ...``, test sessions).

The revision scripts ship inside the package as ``billrun.migrations`` (the repository's top-level
``migrations/`` folder, mapped in pyproject.toml), so an installed billrun migrates without a checkout.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from billrun.store.db import CONNECT_ARGS, database_url


@dataclass(frozen=True)
class Revision:
    id: str
    title: str
    applied: bool


def migrations_dir() -> Path:
    return Path(str(files("billrun.migrations")))


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def current() -> str | None:
    """The revision the database is at (None: nothing applied yet)."""
    engine = create_engine(database_url(), poolclass=pool.NullPool, connect_args=CONNECT_ARGS)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def history() -> list[Revision]:
    """Every revision, oldest first, with whether the database has it."""
    at = current()
    scripts = list(reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions())))
    applied_ids = set()
    if at is not None:
        for script in scripts:
            applied_ids.add(script.revision)
            if script.revision == at:
                break
    return [Revision(s.revision, _title(s.doc), s.revision in applied_ids) for s in scripts]


def upgrade(revision: str = "head") -> list[Revision]:
    """Apply migrations up to ``revision``; returns those this call applied, oldest first."""
    before = {r.id for r in history() if r.applied}
    command.upgrade(alembic_config(), revision)
    return [r for r in history() if r.applied and r.id not in before]


def downgrade(revision: str) -> list[Revision]:
    """Revert migrations down to ``revision``; returns those this call reverted, newest first."""
    before = [r for r in history() if r.applied]
    command.downgrade(alembic_config(), revision)
    still = {r.id for r in history() if r.applied}
    return [r for r in reversed(before) if r.id not in still]


def _title(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc and doc.strip() else ""
