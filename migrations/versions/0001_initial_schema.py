"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 01:25:49.880240
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ingestSeq: strictly increasing receive order of event rows (SPEC §5.1).
    op.execute(sa.schema.CreateSequence(sa.Sequence("usage_events_ingest_seq")))
    op.execute(sa.schema.CreateSequence(sa.Sequence("seat_events_ingest_seq")))
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_operator", sa.Boolean(), nullable=False),
        sa.Column("invoice_number_prefix", sa.String(length=32), nullable=False),
        sa.Column("payment_term_days", sa.Integer(), nullable=False),
        sa.Column("auto_issue_grace_seconds", sa.Integer(), nullable=False),
        sa.Column("billing_run_offset_seconds", sa.Integer(), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("live_invoices", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "api_credentials",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("api_key", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_api_credentials_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_credentials")),
        sa.UniqueConstraint("api_key", name=op.f("uq_api_credentials_api_key")),
    )
    op.create_index(op.f("ix_api_credentials_account_id"), "api_credentials", ["account_id"], unique=False)
    op.create_table(
        "customers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("legal_name", sa.String(length=255), nullable=False),
        sa.Column("address", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("contacts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("tax_status", sa.String(length=32), nullable=False),
        sa.Column("integration_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_customers_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["customers.id"], name=op.f("fk_customers_parent_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_index(op.f("ix_customers_account_id"), "customers", ["account_id"], unique=False)
    op.create_index(op.f("ix_customers_parent_id"), "customers", ["parent_id"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_idempotency_keys_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "invoice_number_counters",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_invoice_number_counters_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_invoice_number_counters")),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_products_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    op.create_index(op.f("ix_products_account_id"), "products", ["account_id"], unique=False)
    op.create_table(
        "seat_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column(
            "ingest_seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('seat_events_ingest_seq')"),
            nullable=False,
        ),
        sa.Column("customer_event_id", sa.String(length=255), nullable=False),
        sa.Column("customer_alias", sa.String(length=255), nullable=False),
        sa.Column("seat_type", sa.String(length=64), nullable=False),
        sa.Column("event_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_seat_events_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seat_events")),
    )
    op.create_index(
        "ix_seat_events_latest_lookup",
        "seat_events",
        ["account_id", "customer_alias", "seat_type", "event_timestamp"],
        unique=False,
        postgresql_where=sa.text("is_latest"),
    )
    op.create_index(
        "uq_seat_events_latest_customer_event_id",
        "seat_events",
        ["account_id", "customer_event_id"],
        unique=True,
        postgresql_where=sa.text("is_latest"),
    )
    op.create_table(
        "seat_metrics",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("seat_type", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_seat_metrics_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seat_metrics")),
        sa.UniqueConstraint("account_id", "seat_type", name=op.f("uq_seat_metrics_account_id_seat_type")),
    )
    op.create_index(op.f("ix_seat_metrics_account_id"), "seat_metrics", ["account_id"], unique=False)
    op.create_table(
        "tax_rates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("is_archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_tax_rates_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_rates")),
    )
    op.create_index(op.f("ix_tax_rates_account_id"), "tax_rates", ["account_id"], unique=False)
    op.create_table(
        "time_travellers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("billing_schedule_id", sa.Uuid(), nullable=True),
        sa.Column("frozen_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failed_billing_run_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_time_travellers_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_travellers")),
        sa.UniqueConstraint("billing_schedule_id", name=op.f("uq_time_travellers_billing_schedule_id")),
    )
    op.create_index(op.f("ix_time_travellers_account_id"), "time_travellers", ["account_id"], unique=False)
    op.create_table(
        "usage_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column(
            "ingest_seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('usage_events_ingest_seq')"),
            nullable=False,
        ),
        sa.Column("customer_event_id", sa.String(length=255), nullable=False),
        sa.Column("customer_alias", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column("event_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_usage_events_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
    )
    op.create_index(
        "ix_usage_events_account_customer_event_id",
        "usage_events",
        ["account_id", "customer_event_id"],
        unique=False,
    )
    op.create_index(
        "ix_usage_events_latest_lookup",
        "usage_events",
        ["account_id", "customer_alias", "event_type", "event_timestamp"],
        unique=False,
        postgresql_where=sa.text("is_latest"),
    )
    op.create_index(
        "uq_usage_events_latest_customer_event_id",
        "usage_events",
        ["account_id", "customer_event_id"],
        unique=True,
        postgresql_where=sa.text("is_latest"),
    )
    op.create_table(
        "usage_metrics",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("metric_type", sa.String(length=16), nullable=False),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column("unit", sa.String(length=255), nullable=True),
        sa.Column("aggregation_type", sa.String(length=16), nullable=False),
        sa.Column("aggregation_property", sa.String(length=255), nullable=True),
        sa.Column("grouping_property", sa.String(length=255), nullable=True),
        sa.Column("property_filters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("case_sensitive", sa.Boolean(), nullable=False),
        sa.Column("properties_to_negate", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_usage_metrics_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_metrics")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_usage_metrics_account_id_name")),
    )
    op.create_index(op.f("ix_usage_metrics_account_id"), "usage_metrics", ["account_id"], unique=False)
    op.create_table(
        "billing_schedules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("recurrence_day_of_month", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("auto_issue_invoices", sa.Boolean(), nullable=False),
        sa.Column("roll_up_billing", sa.Boolean(), nullable=False),
        sa.Column("purchase_order_number", sa.String(length=255), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("payment_provider", sa.String(length=16), nullable=True),
        sa.Column("auto_charge", sa.Boolean(), nullable=False),
        sa.Column("integration_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("time_traveller_id", sa.Uuid(), nullable=True),
        sa.Column("next_drafting_date", sa.Date(), nullable=True),
        sa.Column("last_invoice_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_billing_schedules_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_billing_schedules_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["time_traveller_id"],
            ["time_travellers.id"],
            name=op.f("fk_billing_schedules_time_traveller_id_time_travellers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_schedules")),
        sa.UniqueConstraint("time_traveller_id", name=op.f("uq_billing_schedules_time_traveller_id")),
    )
    op.create_index(op.f("ix_billing_schedules_account_id"), "billing_schedules", ["account_id"], unique=False)
    op.create_index(op.f("ix_billing_schedules_customer_id"), "billing_schedules", ["customer_id"], unique=False)
    op.create_index(
        "ix_billing_schedules_due",
        "billing_schedules",
        ["status", "next_drafting_date"],
        unique=False,
        postgresql_where=sa.text("time_traveller_id IS NULL AND archived_at IS NULL"),
    )
    op.create_table(
        "customer_aliases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_customer_aliases_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_customer_aliases_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_aliases")),
        sa.UniqueConstraint("account_id", "value", name=op.f("uq_customer_aliases_account_id_value")),
    )
    op.create_index(op.f("ix_customer_aliases_account_id"), "customer_aliases", ["account_id"], unique=False)
    op.create_index(op.f("ix_customer_aliases_customer_id"), "customer_aliases", ["customer_id"], unique=False)
    op.create_table(
        "prices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("structure", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("billing_frequency", sa.String(length=16), nullable=False),
        sa.Column("billing_type", sa.String(length=16), nullable=False),
        sa.Column("integration_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("list_price_id", sa.String(length=255), nullable=True),
        sa.Column("usage_calculation_period", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_prices_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_prices_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prices")),
    )
    op.create_index(op.f("ix_prices_account_id"), "prices", ["account_id"], unique=False)
    op.create_index(op.f("ix_prices_product_id"), "prices", ["product_id"], unique=False)
    op.create_table(
        "tax_rate_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("tax_rate_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_published", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("invoice_name", sa.String(length=255), nullable=False),
        sa.Column("invoice_short_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("region", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_tax_rate_versions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tax_rate_id"],
            ["tax_rates.id"],
            name=op.f("fk_tax_rate_versions_tax_rate_id_tax_rates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tax_rate_versions")),
        sa.UniqueConstraint("tax_rate_id", "version", name=op.f("uq_tax_rate_versions_tax_rate_id_version")),
    )
    op.create_index(op.f("ix_tax_rate_versions_account_id"), "tax_rate_versions", ["account_id"], unique=False)
    op.create_table(
        "billing_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("billing_schedule_id", sa.Uuid(), nullable=False),
        sa.Column("intended_drafting_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("scheduled_run_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("billing_start_date", sa.Date(), nullable=True),
        sa.Column("billing_end_date", sa.Date(), nullable=True),
        sa.Column("invoice_id", sa.Uuid(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.Uuid(), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warnings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_billing_runs_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["billing_schedule_id"],
            ["billing_schedules.id"],
            name=op.f("fk_billing_runs_billing_schedule_id_billing_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_runs")),
        sa.UniqueConstraint(
            "billing_schedule_id",
            "intended_drafting_date",
            name=op.f("uq_billing_runs_billing_schedule_id_intended_drafting_date"),
        ),
    )
    op.create_index(op.f("ix_billing_runs_account_id"), "billing_runs", ["account_id"], unique=False)
    op.create_index(
        "ix_billing_runs_claimable",
        "billing_runs",
        ["status", "scheduled_run_time"],
        unique=False,
        postgresql_where=sa.text("status IN ('SCHEDULED', 'FAILED', 'IN_PROGRESS')"),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("billing_schedule_id", sa.Uuid(), nullable=True),
        sa.Column("billing_run_id", sa.Uuid(), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("drafting_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("invoice_number", sa.String(length=64), nullable=True),
        sa.Column("issue_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("purchase_order_number", sa.String(length=255), nullable=True),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("customer_emails", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("customer_legal_company_name", sa.String(length=255), nullable=True),
        sa.Column("customer_billing_address", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("customer_tax_status", sa.String(length=32), nullable=True),
        sa.Column("billing_period_start", sa.Date(), nullable=True),
        sa.Column("billing_period_end", sa.Date(), nullable=True),
        sa.Column("net_total", sa.Numeric(), nullable=False),
        sa.Column("total_tax", sa.Numeric(), nullable=False),
        sa.Column("gross_total", sa.Numeric(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("payment_status", sa.String(length=16), nullable=False),
        sa.Column("accounting_date", sa.Date(), nullable=True),
        sa.Column("calculated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warnings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_invoices_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["billing_schedule_id"],
            ["billing_schedules.id"],
            name=op.f("fk_invoices_billing_schedule_id_billing_schedules"),
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_invoices_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("account_id", "invoice_number", name=op.f("uq_invoices_account_id_invoice_number")),
    )
    op.create_index("ix_invoices_account_created", "invoices", ["account_id", "created_at", "id"], unique=False)
    op.create_index(op.f("ix_invoices_account_id"), "invoices", ["account_id"], unique=False)
    op.create_index(op.f("ix_invoices_billing_run_id"), "invoices", ["billing_run_id"], unique=False)
    op.create_index(op.f("ix_invoices_billing_schedule_id"), "invoices", ["billing_schedule_id"], unique=False)
    op.create_index(op.f("ix_invoices_customer_id"), "invoices", ["customer_id"], unique=False)
    op.create_index(
        "uq_invoices_live_per_drafting_date",
        "invoices",
        ["billing_schedule_id", "drafting_date"],
        unique=True,
        postgresql_where=sa.text("status <> 'VOIDED' AND drafting_date IS NOT NULL"),
    )
    op.create_table(
        "schedule_phases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("billing_schedule_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("price_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("recurrence_preference", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_schedule_phases_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["billing_schedule_id"],
            ["billing_schedules.id"],
            name=op.f("fk_schedule_phases_billing_schedule_id_billing_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_phases")),
        sa.UniqueConstraint(
            "billing_schedule_id", "position", name=op.f("uq_schedule_phases_billing_schedule_id_position")
        ),
    )
    op.create_index(op.f("ix_schedule_phases_account_id"), "schedule_phases", ["account_id"], unique=False)
    op.create_table(
        "schedule_tax_rates",
        sa.Column("billing_schedule_id", sa.Uuid(), nullable=False),
        sa.Column("price_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("tax_rate_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_schedule_tax_rates_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["billing_schedule_id"],
            ["billing_schedules.id"],
            name=op.f("fk_schedule_tax_rates_billing_schedule_id_billing_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["price_id"], ["prices.id"], name=op.f("fk_schedule_tax_rates_price_id_prices")),
        sa.ForeignKeyConstraint(
            ["tax_rate_id"], ["tax_rates.id"], name=op.f("fk_schedule_tax_rates_tax_rate_id_tax_rates")
        ),
        sa.PrimaryKeyConstraint("billing_schedule_id", "price_id", name=op.f("pk_schedule_tax_rates")),
    )
    op.create_index(op.f("ix_schedule_tax_rates_account_id"), "schedule_tax_rates", ["account_id"], unique=False)
    op.create_table(
        "calculation_snapshots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("billing_run_id", sa.Uuid(), nullable=True),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_calculation_snapshots_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_calculation_snapshots_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calculation_snapshots")),
    )
    op.create_index(op.f("ix_calculation_snapshots_account_id"), "calculation_snapshots", ["account_id"], unique=False)
    op.create_index(op.f("ix_calculation_snapshots_invoice_id"), "calculation_snapshots", ["invoice_id"], unique=False)
    op.create_table(
        "invoice_line_item_groups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("net_total", sa.Numeric(), nullable=False),
        sa.Column("total_tax", sa.Numeric(), nullable=False),
        sa.Column("gross_total", sa.Numeric(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_invoice_line_item_groups_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_line_item_groups_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_line_item_groups")),
    )
    op.create_index(
        op.f("ix_invoice_line_item_groups_account_id"),
        "invoice_line_item_groups",
        ["account_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_invoice_line_item_groups_invoice_id"),
        "invoice_line_item_groups",
        ["invoice_id"],
        unique=False,
    )
    op.create_table(
        "invoice_line_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Numeric(), nullable=False),
        sa.Column("rate", sa.Numeric(), nullable=False),
        sa.Column("rate_display", sa.String(length=16), nullable=False),
        sa.Column("discount_total", sa.Numeric(), nullable=False),
        sa.Column("tax_rate", sa.Numeric(), nullable=False),
        sa.Column("tax_rate_id", sa.Uuid(), nullable=True),
        sa.Column("net_total", sa.Numeric(), nullable=False),
        sa.Column("total_tax", sa.Numeric(), nullable=False),
        sa.Column("gross_total", sa.Numeric(), nullable=False),
        sa.Column("price_id", sa.Uuid(), nullable=True),
        sa.Column("service_period_start", sa.Date(), nullable=True),
        sa.Column("service_period_end", sa.Date(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_invoice_line_items_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_line_items_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_line_items")),
    )
    op.create_index(op.f("ix_invoice_line_items_account_id"), "invoice_line_items", ["account_id"], unique=False)
    op.create_index(op.f("ix_invoice_line_items_invoice_id"), "invoice_line_items", ["invoice_id"], unique=False)
    op.create_table(
        "phase_discounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("billing_schedule_id", sa.Uuid(), nullable=False),
        sa.Column("phase_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("message", sa.String(length=255), nullable=False),
        sa.Column("separate_line_item", sa.Boolean(), nullable=False),
        sa.Column("restrict_to_prices", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_phase_discounts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["billing_schedule_id"],
            ["billing_schedules.id"],
            name=op.f("fk_phase_discounts_billing_schedule_id_billing_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["phase_id"],
            ["schedule_phases.id"],
            name=op.f("fk_phase_discounts_phase_id_schedule_phases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phase_discounts")),
    )
    op.create_index(op.f("ix_phase_discounts_account_id"), "phase_discounts", ["account_id"], unique=False)
    op.create_index(
        op.f("ix_phase_discounts_billing_schedule_id"),
        "phase_discounts",
        ["billing_schedule_id"],
        unique=False,
    )
    op.create_table(
        "phase_minimums",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("billing_schedule_id", sa.Uuid(), nullable=False),
        sa.Column("phase_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("restrict_to_prices", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_phase_minimums_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["billing_schedule_id"],
            ["billing_schedules.id"],
            name=op.f("fk_phase_minimums_billing_schedule_id_billing_schedules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["phase_id"],
            ["schedule_phases.id"],
            name=op.f("fk_phase_minimums_phase_id_schedule_phases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phase_minimums")),
    )
    op.create_index(op.f("ix_phase_minimums_account_id"), "phase_minimums", ["account_id"], unique=False)
    op.create_index(
        op.f("ix_phase_minimums_billing_schedule_id"), "phase_minimums", ["billing_schedule_id"], unique=False
    )
    op.create_table(
        "recalculation_requests",
        sa.Column("invoice_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_recalculation_requests_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_recalculation_requests_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_recalculation_requests")),
    )
    op.create_index(
        op.f("ix_recalculation_requests_account_id"), "recalculation_requests", ["account_id"], unique=False
    )
    # ### end Alembic commands ###


def downgrade() -> None:
    op.drop_index(op.f("ix_recalculation_requests_account_id"), table_name="recalculation_requests")
    op.drop_table("recalculation_requests")
    op.drop_index(op.f("ix_phase_minimums_billing_schedule_id"), table_name="phase_minimums")
    op.drop_index(op.f("ix_phase_minimums_account_id"), table_name="phase_minimums")
    op.drop_table("phase_minimums")
    op.drop_index(op.f("ix_phase_discounts_billing_schedule_id"), table_name="phase_discounts")
    op.drop_index(op.f("ix_phase_discounts_account_id"), table_name="phase_discounts")
    op.drop_table("phase_discounts")
    op.drop_index(op.f("ix_invoice_line_items_invoice_id"), table_name="invoice_line_items")
    op.drop_index(op.f("ix_invoice_line_items_account_id"), table_name="invoice_line_items")
    op.drop_table("invoice_line_items")
    op.drop_index(op.f("ix_invoice_line_item_groups_invoice_id"), table_name="invoice_line_item_groups")
    op.drop_index(op.f("ix_invoice_line_item_groups_account_id"), table_name="invoice_line_item_groups")
    op.drop_table("invoice_line_item_groups")
    op.drop_index(op.f("ix_calculation_snapshots_invoice_id"), table_name="calculation_snapshots")
    op.drop_index(op.f("ix_calculation_snapshots_account_id"), table_name="calculation_snapshots")
    op.drop_table("calculation_snapshots")
    op.drop_index(op.f("ix_schedule_tax_rates_account_id"), table_name="schedule_tax_rates")
    op.drop_table("schedule_tax_rates")
    op.drop_index(op.f("ix_schedule_phases_account_id"), table_name="schedule_phases")
    op.drop_table("schedule_phases")
    op.drop_index(
        "uq_invoices_live_per_drafting_date",
        table_name="invoices",
        postgresql_where=sa.text("status <> 'VOIDED' AND drafting_date IS NOT NULL"),
    )
    op.drop_index(op.f("ix_invoices_customer_id"), table_name="invoices")
    op.drop_index(op.f("ix_invoices_billing_schedule_id"), table_name="invoices")
    op.drop_index(op.f("ix_invoices_billing_run_id"), table_name="invoices")
    op.drop_index(op.f("ix_invoices_account_id"), table_name="invoices")
    op.drop_index("ix_invoices_account_created", table_name="invoices")
    op.drop_table("invoices")
    op.drop_index(
        "ix_billing_runs_claimable",
        table_name="billing_runs",
        postgresql_where=sa.text("status IN ('SCHEDULED', 'FAILED', 'IN_PROGRESS')"),
    )
    op.drop_index(op.f("ix_billing_runs_account_id"), table_name="billing_runs")
    op.drop_table("billing_runs")
    op.drop_index(op.f("ix_tax_rate_versions_account_id"), table_name="tax_rate_versions")
    op.drop_table("tax_rate_versions")
    op.drop_index(op.f("ix_prices_product_id"), table_name="prices")
    op.drop_index(op.f("ix_prices_account_id"), table_name="prices")
    op.drop_table("prices")
    op.drop_index(op.f("ix_customer_aliases_customer_id"), table_name="customer_aliases")
    op.drop_index(op.f("ix_customer_aliases_account_id"), table_name="customer_aliases")
    op.drop_table("customer_aliases")
    op.drop_index(
        "ix_billing_schedules_due",
        table_name="billing_schedules",
        postgresql_where=sa.text("time_traveller_id IS NULL AND archived_at IS NULL"),
    )
    op.drop_index(op.f("ix_billing_schedules_customer_id"), table_name="billing_schedules")
    op.drop_index(op.f("ix_billing_schedules_account_id"), table_name="billing_schedules")
    op.drop_table("billing_schedules")
    op.drop_index(op.f("ix_usage_metrics_account_id"), table_name="usage_metrics")
    op.drop_table("usage_metrics")
    op.drop_index(
        "uq_usage_events_latest_customer_event_id",
        table_name="usage_events",
        postgresql_where=sa.text("is_latest"),
    )
    op.drop_index("ix_usage_events_latest_lookup", table_name="usage_events", postgresql_where=sa.text("is_latest"))
    op.drop_index("ix_usage_events_account_customer_event_id", table_name="usage_events")
    op.drop_table("usage_events")
    op.drop_index(op.f("ix_time_travellers_account_id"), table_name="time_travellers")
    op.drop_table("time_travellers")
    op.drop_index(op.f("ix_tax_rates_account_id"), table_name="tax_rates")
    op.drop_table("tax_rates")
    op.drop_index(op.f("ix_seat_metrics_account_id"), table_name="seat_metrics")
    op.drop_table("seat_metrics")
    op.drop_index(
        "uq_seat_events_latest_customer_event_id",
        table_name="seat_events",
        postgresql_where=sa.text("is_latest"),
    )
    op.drop_index("ix_seat_events_latest_lookup", table_name="seat_events", postgresql_where=sa.text("is_latest"))
    op.drop_table("seat_events")
    op.drop_index(op.f("ix_products_account_id"), table_name="products")
    op.drop_table("products")
    op.drop_table("invoice_number_counters")
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_customers_parent_id"), table_name="customers")
    op.drop_index(op.f("ix_customers_account_id"), table_name="customers")
    op.drop_table("customers")
    op.drop_index(op.f("ix_api_credentials_account_id"), table_name="api_credentials")
    op.drop_table("api_credentials")
    op.drop_table("accounts")
    op.execute(sa.schema.DropSequence(sa.Sequence("seat_events_ingest_seq")))
    op.execute(sa.schema.DropSequence(sa.Sequence("usage_events_ingest_seq")))
