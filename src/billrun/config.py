"""Typed settings read from ``BILLRUN_*`` environment variables.

When ``BILLRUN_DATABASE_URL`` / ``BILLRUN_BROKER_URL`` are unset, billrun runs on embedded servers that it
starts itself under ``BILLRUN_DATA_DIR`` (see :mod:`billrun.embedded`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLRUN_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL (postgresql+psycopg://...). Unset: embedded PostgreSQL."
    )
    broker_url: str | None = Field(default=None, description="Celery broker URL (redis://...). Unset: embedded Redis.")
    data_dir: Path = Field(default=Path(".billrun"), description="Where embedded servers keep data and pid files.")

    # Worker and beat tunables (SPEC §6).
    tick_seconds: float = Field(default=60.0, description="Beat tick interval (SPEC §6.2).")
    chunk_size: int = Field(default=100, ge=1, le=10_000, description="Runs per execute_billing_runs task.")
    lease_seconds: int = Field(default=600, ge=10, description="Run lease while IN_PROGRESS (SPEC §6.3).")
    visibility_timeout_seconds: int = Field(
        default=3600, ge=1, description="Redis visibility timeout; must exceed the longest run (SPEC §6.3)."
    )
    recalc_debounce_seconds: float = Field(default=2.0, ge=0, le=5, description="Recalculation coalescing (§5.7).")
    chunk_synchronous_commit_off: bool = Field(
        default=True, description="Chunk transactions use synchronous_commit=off (SPEC §6.3)."
    )

    # API tunables (SPEC §3).
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    idempotency_ttl_hours: int = 24
    default_rate_limit_per_minute: int = 100
    max_batch_events: int = 1000

    log_level: str = "INFO"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
