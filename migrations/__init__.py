"""Alembic migrations, shipped inside the package as ``billrun.migrations`` (see pyproject.toml)."""
