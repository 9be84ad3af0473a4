"""Apply Alembic migrations programmatically (``billrun db upgrade``, test sessions)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config


def migrations_dir() -> Path:
    configured = os.environ.get("BILLRUN_MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    # src layout: <repo>/src/billrun/store/migrate.py -> <repo>/migrations
    return Path(__file__).resolve().parents[3] / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def upgrade(revision: str = "head") -> None:
    command.upgrade(alembic_config(), revision)


def downgrade(revision: str) -> None:
    command.downgrade(alembic_config(), revision)
