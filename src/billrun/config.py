"""Typed settings read from ``BILLRUN_*`` environment variables.

When ``BILLRUN_DATABASE_URL`` / ``BILLRUN_BROKER_URL`` are unset, billrun runs on embedded servers that it
starts itself under ``BILLRUN_DATA_DIR`` (see :mod:`billrun.embedded`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The spellings users paste from their provider's console, all meaning psycopg 3.
_POSTGRES_SCHEMES = ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://")


def normalise_database_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` (and psycopg2's scheme) mean psycopg 3, the driver billrun ships.
    Anything that is not a well-formed PostgreSQL URL is refused here, before any connection is tried."""
    from sqlalchemy import make_url

    scheme = next((s for s in _POSTGRES_SCHEMES if url.startswith(s)), None)
    if scheme is None:
        raise ValueError("must be a PostgreSQL URL: postgresql://user:password@host:5432/database")
    normalised = "postgresql+psycopg://" + url[len(scheme) :]
    try:
        make_url(normalised)
    except Exception as exc:  # SQLAlchemy raises ArgumentError or ValueError, with its own wording
        raise ValueError(f"not a well-formed URL ({exc})") from None
    return normalised


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLRUN_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (postgres://, postgresql:// or postgresql+psycopg://). Unset: embedded PostgreSQL.",
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
    metrics_token: str | None = Field(
        default=None, description="When set, GET /metrics requires 'Authorization: Bearer <token>'."
    )

    # Webhooks (billrun.webhooks, billing.webhook_delivery).
    webhooks_allow_private: bool = Field(
        default=False,
        description="Deliver to http:// and to private, loopback and link-local addresses (tests, local development).",
    )
    webhooks_timeout_seconds: float = Field(default=10.0, gt=0, le=60, description="Per delivery attempt.")
    secrets_key: str | None = Field(
        default=None,
        min_length=32,
        description="Encrypts webhook signing secrets at rest; every process must share it. Unset: a key file "
        "under BILLRUN_DATA_DIR, made on first use (one machine only).",
    )

    # Logging (billrun.logs): one setup for every process.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] | None = Field(
        default=None, description="json or console; unset: json unless stderr is a terminal."
    )
    debug: bool = Field(default=False, description="CLI errors print their traceback.")

    @field_validator("database_url")
    @classmethod
    def _psycopg_url(cls, url: str | None) -> str | None:
        return normalise_database_url(url) if url else url

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
