"""Tables of billrun (SQLAlchemy 2 typed models). Alembic migrations in ``migrations/`` mirror this file.

Every account-owned table carries ``account_id``; every query filters on it (tenant isolation, SPEC §1.2).
Money and quantities are ``NUMERIC`` without a fixed scale: values are stored exactly as computed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    Sequence,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from billrun import jsonutil
from billrun.domain.statuses import DeliveryStatus, InvoiceStatus, PaymentStatus, RunStatus, TravellerStatus, Trigger
from billrun.ids import uuid7

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Timestamp = DateTime(timezone=True)


class JsonText(TypeDecorator[Any]):
    """A JSON document kept as the text billrun wrote, not parsed into ``jsonb``: for write-mostly documents
    no query looks into (calculation snapshots). PostgreSQL parses ``jsonb`` input at about 20 ns a byte,
    which made the snapshot nearly half of a billing run's COPY (175 us for a 5.5 KB snapshot, 6.5 as text)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else jsonutil.dumps(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else jsonutil.loads(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONB, list[Any]: JSONB, Decimal: Numeric()}


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(primary_key=True, default=uuid7)


def _account() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)


def _invoice_account() -> Mapped[uuid.UUID]:
    """The account of a row that belongs to an invoice: the invoice's, written with it, and deleted with it
    (its foreign key cascades). No foreign key of its own: a billing run writes several such rows per
    invoice, and each key check costs as much as writing the row (DESIGN "Scale")."""
    return mapped_column(index=True)


def _created() -> Mapped[dt.datetime]:
    return mapped_column(Timestamp, server_default=func.now())


def _updated() -> Mapped[dt.datetime]:
    return mapped_column(Timestamp, server_default=func.now())


def _sequence_fields() -> Mapped[dict[str, Any]]:
    """Sequence fields kept verbatim and served back, but not acted on (SPEC §9), by their Sequence name."""
    return mapped_column(default=dict, server_default=text("'{}'::jsonb"))


# --- accounts and credentials -------------------------------------------------------------------------------


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[uuid.UUID] = _id()
    name: Mapped[str] = mapped_column(String(255))
    is_operator: Mapped[bool] = mapped_column(default=False)
    invoice_number_prefix: Mapped[str] = mapped_column(String(32), default="INV-")
    payment_term_days: Mapped[int] = mapped_column(default=30)
    auto_issue_grace_seconds: Mapped[int] = mapped_column(default=3600)
    billing_run_offset_seconds: Mapped[int] = mapped_column(default=0)
    rate_limit_per_minute: Mapped[int] = mapped_column(default=100)
    live_invoices: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = _created()
    disabled_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)  # set: every credential gets 401
    # the seller on invoice documents (billrun.documents)
    legal_name: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(Text)  # as printed, one line per line
    tax_id: Mapped[str | None] = mapped_column(String(64))
    logo_url: Mapped[str | None] = mapped_column(String(2048))
    locale: Mapped[str] = mapped_column(String(16), default="en-GB", server_default="en-GB")
    paper_size: Mapped[str] = mapped_column(String(8), default="A4", server_default="A4")


class ApiCredential(Base):
    """An API key pair. Only a salted scrypt hash of the secret is stored (SPEC §3.1)."""

    __tablename__ = "api_credentials"
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    api_key: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = _created()
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


# --- catalog --------------------------------------------------------------------------------------------------


class Product(Base):
    __tablename__ = "products"
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    name: Mapped[str] = mapped_column(String(255))
    label: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()
    archived_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class SeatMetric(Base):
    __tablename__ = "seat_metrics"
    __table_args__ = (UniqueConstraint("account_id", "seat_type"),)
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    seat_type: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()


class UsageMetric(Base):
    __tablename__ = "usage_metrics"
    __table_args__ = (UniqueConstraint("account_id", "name"),)
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    metric_type: Mapped[str] = mapped_column(String(16))
    event_type: Mapped[str] = mapped_column(String(255))
    unit: Mapped[str | None] = mapped_column(String(255))
    aggregation_type: Mapped[str] = mapped_column(String(16))
    aggregation_property: Mapped[str | None] = mapped_column(String(255))
    grouping_property: Mapped[str | None] = mapped_column(String(255))
    property_filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    case_sensitive: Mapped[bool] = mapped_column(default=True)
    properties_to_negate: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()
    deleted_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Price(Base):
    """An immutable rating rule; ``structure`` is the canonical 2024-07-30 JSON (SPEC §2.4)."""

    __tablename__ = "prices"
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3))
    structure: Mapped[dict[str, Any]]
    billing_frequency: Mapped[str] = mapped_column(String(16))
    billing_type: Mapped[str] = mapped_column(String(16))
    integration_ids: Mapped[list[Any]] = mapped_column(default=list)
    list_price_id: Mapped[str | None] = mapped_column(String(255))
    usage_calculation_period: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    sequence_fields: Mapped[dict[str, Any]] = _sequence_fields()
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()


# --- customers ------------------------------------------------------------------------------------------------


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    legal_name: Mapped[str] = mapped_column(String(255))
    address: Mapped[dict[str, Any]]
    contacts: Mapped[list[Any]] = mapped_column(default=list)
    url: Mapped[str | None] = mapped_column(String(2048))
    domain: Mapped[str | None] = mapped_column(String(255))
    label: Mapped[str | None] = mapped_column(String(255))
    tax_status: Mapped[str] = mapped_column(String(32), default="TAXED")
    integration_ids: Mapped[list[Any]] = mapped_column(default=list)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"), index=True)
    sequence_fields: Mapped[dict[str, Any]] = _sequence_fields()
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()
    archived_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class CustomerAlias(Base):
    """Alias values are unique per account forever: a deleted value is never reusable (SPEC §2.9)."""

    __tablename__ = "customer_aliases"
    __table_args__ = (UniqueConstraint("account_id", "value"),)
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    value: Mapped[str] = mapped_column(String(255))
    label: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = _created()
    archived_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


# --- events ---------------------------------------------------------------------------------------------------

usage_ingest_seq = Sequence("usage_events_ingest_seq", metadata=Base.metadata)
seat_ingest_seq = Sequence("seat_events_ingest_seq", metadata=Base.metadata)


class UsageEvent(Base):
    """One stored usage event row. ``is_latest`` marks the winner per (account, customerEventId) (SPEC §5.1)."""

    __tablename__ = "usage_events"
    __table_args__ = (
        Index(
            "ix_usage_events_latest_lookup",
            "account_id",
            "customer_alias",
            "event_type",
            "event_timestamp",
            postgresql_where=text("is_latest"),
            postgresql_include=["id"],  # COUNT metrics aggregate without the heap (migration 0017)
        ),
        Index(
            "uq_usage_events_latest_customer_event_id",
            "account_id",
            "customer_event_id",
            unique=True,
            postgresql_where=text("is_latest"),
        ),
        Index("ix_usage_events_account_customer_event_id", "account_id", "customer_event_id"),
        # events received after a calculation's watermark, to derive what it counted (SPEC §6.7)
        Index("ix_usage_events_ingest_seq", "ingest_seq", postgresql_using="brin"),
    )
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    ingest_seq: Mapped[int] = mapped_column(BigInteger, usage_ingest_seq, server_default=usage_ingest_seq.next_value())
    customer_event_id: Mapped[str] = mapped_column(String(255))
    customer_alias: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(255))
    event_timestamp: Mapped[dt.datetime] = mapped_column(Timestamp)
    event_properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_latest: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = _created()


class SeatEvent(Base):
    __tablename__ = "seat_events"
    __table_args__ = (
        Index(
            "ix_seat_events_latest_lookup",
            "account_id",
            "customer_alias",
            "seat_type",
            "event_timestamp",
            postgresql_where=text("is_latest"),
        ),
        Index(
            "uq_seat_events_latest_customer_event_id",
            "account_id",
            "customer_event_id",
            unique=True,
            postgresql_where=text("is_latest"),
        ),
        Index("ix_seat_events_account_customer_event_id", "account_id", "customer_event_id"),
    )
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    ingest_seq: Mapped[int] = mapped_column(BigInteger, seat_ingest_seq, server_default=seat_ingest_seq.next_value())
    customer_event_id: Mapped[str] = mapped_column(String(255))
    customer_alias: Mapped[str] = mapped_column(String(255))
    seat_type: Mapped[str] = mapped_column(String(64))
    event_timestamp: Mapped[dt.datetime] = mapped_column(Timestamp)
    total: Mapped[int] = mapped_column(BigInteger)
    is_latest: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = _created()


# --- tax ------------------------------------------------------------------------------------------------------


class TaxRate(Base):
    __tablename__ = "tax_rates"
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    is_archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()


class TaxRateVersion(Base):
    """Each PUT on a tax rate appends a version; the current one is the highest published (SPEC §2.10)."""

    __tablename__ = "tax_rate_versions"
    __table_args__ = (UniqueConstraint("tax_rate_id", "version"),)
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    tax_rate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tax_rates.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    is_published: Mapped[bool] = mapped_column(default=True)
    name: Mapped[str] = mapped_column(String(255))
    invoice_name: Mapped[str] = mapped_column(String(255))
    invoice_short_name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal]
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = _created()


# --- billing schedules ----------------------------------------------------------------------------------------


class TimeTraveller(Base):
    __tablename__ = "time_travellers"
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    billing_schedule_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    frozen_time: Mapped[dt.datetime] = mapped_column(Timestamp)
    status: Mapped[str] = mapped_column(String(16), default=TravellerStatus.READY)
    failed_billing_run_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()


class BillingSchedule(Base):
    __tablename__ = "billing_schedules"
    __table_args__ = (
        Index(
            "ix_billing_schedules_due",
            "status",
            "next_drafting_date",
            postgresql_where=text("time_traveller_id IS NULL AND archived_at IS NULL"),
        ),
    )
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    recurrence_day_of_month: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    auto_issue_invoices: Mapped[bool] = mapped_column(default=False)
    roll_up_billing: Mapped[bool] = mapped_column(default=False)
    purchase_order_number: Mapped[str | None] = mapped_column(String(255))
    reference: Mapped[str | None] = mapped_column(String(255))
    label: Mapped[str | None] = mapped_column(String(255))
    payment_provider: Mapped[str | None] = mapped_column(String(16))
    auto_charge: Mapped[bool] = mapped_column(default=False)
    integration_ids: Mapped[list[Any]] = mapped_column(default=list)
    sequence_fields: Mapped[dict[str, Any]] = _sequence_fields()
    time_traveller_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("time_travellers.id"), unique=True)
    next_drafting_date: Mapped[dt.date | None] = mapped_column(Date)
    last_invoice_id: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()
    archived_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class SchedulePhase(Base):
    __tablename__ = "schedule_phases"
    __table_args__ = (UniqueConstraint("billing_schedule_id", "position"),)
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    billing_schedule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("billing_schedules.id", ondelete="CASCADE"))
    position: Mapped[int]
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    price_ids: Mapped[list[Any]]
    recurrence_preference: Mapped[str] = mapped_column(String(40), default="CONTINUE_FROM_PREVIOUS_PHASE")
    sequence_fields: Mapped[dict[str, Any]] = _sequence_fields()
    created_at: Mapped[dt.datetime] = _created()


class PhaseDiscount(Base):
    __tablename__ = "phase_discounts"
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    billing_schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("billing_schedules.id", ondelete="CASCADE"), index=True
    )
    phase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("schedule_phases.id", ondelete="CASCADE"))
    position: Mapped[int]
    type: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal]
    message: Mapped[str] = mapped_column(String(255))
    separate_line_item: Mapped[bool]
    restrict_to_prices: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = _created()


class PhaseMinimum(Base):
    __tablename__ = "phase_minimums"
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    billing_schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("billing_schedules.id", ondelete="CASCADE"), index=True
    )
    phase_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("schedule_phases.id", ondelete="CASCADE"))
    position: Mapped[int]
    amount: Mapped[Decimal]
    restrict_to_prices: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()


class ScheduleTaxRate(Base):
    """The price -> tax-rate mapping of a schedule (SPEC §2.11 ``taxRates``)."""

    __tablename__ = "schedule_tax_rates"
    billing_schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("billing_schedules.id", ondelete="CASCADE"), primary_key=True
    )
    price_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("prices.id"), primary_key=True)
    account_id: Mapped[uuid.UUID] = _account()
    tax_rate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tax_rates.id"))


# --- billing runs and invoices --------------------------------------------------------------------------------


class BillingRun(Base):
    """Exactly one run per (schedule, drafting date) (SPEC §6.1)."""

    __tablename__ = "billing_runs"
    __table_args__ = (
        UniqueConstraint("billing_schedule_id", "intended_drafting_date"),
        Index(
            "ix_billing_runs_claimable",
            "status",
            "scheduled_run_time",
            postgresql_where=text("status IN ('SCHEDULED', 'FAILED', 'IN_PROGRESS')"),
        ),
    )
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    billing_schedule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("billing_schedules.id", ondelete="CASCADE"))
    intended_drafting_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.SCHEDULED)
    trigger: Mapped[str] = mapped_column(String(16), default=Trigger.SCHEDULE)
    scheduled_run_time: Mapped[dt.datetime] = mapped_column(Timestamp)
    billing_start_date: Mapped[dt.date | None] = mapped_column(Date)
    billing_end_date: Mapped[dt.date | None] = mapped_column(Date)
    invoice_id: Mapped[uuid.UUID | None]
    attempts: Mapped[int] = mapped_column(default=0)
    claim_token: Mapped[uuid.UUID | None]
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    next_retry_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    started_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    completed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        # The backbone of exactly-once (SPEC §6.3): one live invoice per (schedule, drafting date).
        Index(
            "uq_invoices_live_per_drafting_date",
            "billing_schedule_id",
            "drafting_date",
            unique=True,
            postgresql_where=text("status <> 'VOIDED' AND drafting_date IS NOT NULL"),
        ),
        Index("ix_invoices_account_created", "account_id", "created_at", "id"),
        UniqueConstraint("account_id", "invoice_number"),
    )
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    billing_schedule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("billing_schedules.id"), index=True)
    billing_run_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    drafting_date: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=InvoiceStatus.DRAFT)
    currency: Mapped[str] = mapped_column(String(3))
    invoice_number: Mapped[str | None] = mapped_column(String(64))
    issue_date: Mapped[dt.date | None] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    purchase_order_number: Mapped[str | None] = mapped_column(String(255))
    reference: Mapped[str | None] = mapped_column(String(255))
    memo: Mapped[str | None] = mapped_column(Text)
    customer_emails: Mapped[list[Any]] = mapped_column(default=list)
    customer_legal_company_name: Mapped[str | None] = mapped_column(String(255))
    customer_billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    customer_tax_status: Mapped[str | None] = mapped_column(String(32))
    billing_period_start: Mapped[dt.date | None] = mapped_column(Date)
    billing_period_end: Mapped[dt.date | None] = mapped_column(Date)
    net_total: Mapped[Decimal] = mapped_column(default=Decimal(0))
    total_tax: Mapped[Decimal] = mapped_column(default=Decimal(0))
    gross_total: Mapped[Decimal] = mapped_column(default=Decimal(0))
    metadata_: Mapped[list[Any]] = mapped_column("metadata", JSONB, default=list)
    payment_status: Mapped[str] = mapped_column(String(16), default=PaymentStatus.UNPAID)
    accounting_date: Mapped[dt.date | None] = mapped_column(Date)
    calculated_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    sequence_fields: Mapped[dict[str, Any]] = _sequence_fields()
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class InvoiceLineItemGroup(Base):
    __tablename__ = "invoice_line_item_groups"
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _invoice_account()
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[uuid.UUID | None]
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    index: Mapped[int]
    net_total: Mapped[Decimal]
    total_tax: Mapped[Decimal]
    gross_total: Mapped[Decimal]


class InvoiceLineItem(Base):
    __tablename__ = "invoice_line_items"
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _invoice_account()
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[uuid.UUID | None]
    index: Mapped[int]
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[Decimal]
    rate: Mapped[Decimal]
    rate_display: Mapped[str] = mapped_column(String(16), default="ABSOLUTE")
    discount_total: Mapped[Decimal] = mapped_column(default=Decimal(0))
    tax_rate: Mapped[Decimal]
    tax_rate_id: Mapped[uuid.UUID | None]
    net_total: Mapped[Decimal]
    total_tax: Mapped[Decimal]
    gross_total: Mapped[Decimal]
    price_id: Mapped[uuid.UUID | None]
    service_period_start: Mapped[dt.date | None] = mapped_column(Date)
    service_period_end: Mapped[dt.date | None] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(String(8))
    sequence_fields: Mapped[dict[str, Any]] = _sequence_fields()
    created_at: Mapped[dt.datetime] = _created()


class CalculationSnapshot(Base):
    """Immutable audit record of one calculation (SPEC §6.7); the newest per invoice is served."""

    __tablename__ = "calculation_snapshots"
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _invoice_account()
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), index=True)
    billing_run_id: Mapped[uuid.UUID | None]
    body: Mapped[dict[str, Any]] = mapped_column(JsonText)
    created_at: Mapped[dt.datetime] = _created()


class InvoiceNumberCounter(Base):
    __tablename__ = "invoice_number_counters"
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger, default=0)


class RecalculationRequest(Base):
    """Coalescing queue for late-event recalculations (SPEC §5.7): one row per invoice, however many events."""

    __tablename__ = "recalculation_requests"
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[uuid.UUID] = _account()
    requested_at: Mapped[dt.datetime] = _created()


class ScheduleRecalculationRequest(Base):
    """Late input for a schedule whose run is queued or executing (SPEC §5.7): that run may already have read
    its events, and its invoice is not visible yet, so the request waits for the schedule's runs to settle and
    then becomes per-invoice requests. ``after_date`` null means every live invoice of the schedule."""

    __tablename__ = "schedule_recalculation_requests"
    billing_schedule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("billing_schedules.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = _account()
    after_date: Mapped[dt.date | None] = mapped_column(Date)
    requested_at: Mapped[dt.datetime] = _created()


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(128))
    status_code: Mapped[int]
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _created()


# --- webhooks -------------------------------------------------------------------------------------------------


class WebhookEndpoint(Base):
    """Where an account's events are delivered. The signing secret is stored sealed (``webhooks.sealing``);
    during a rotation the previous one keeps signing until ``previous_secret_expires_at``."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_account_created", "account_id", "created_at", "id"),)
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    #: empty: every event type
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    sealed_secret: Mapped[str] = mapped_column(Text)
    sealed_previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    #: the first failed attempt since the last success; five days of it disables the endpoint
    failing_since: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()


class WebhookOutbox(Base):
    """The transactional outbox: the webhook events of one committed transaction and their deliveries, written
    in it as one row however many there are (a chunk of runs reports an event per invoice), and fanned out into
    ``webhook_events`` and ``webhook_deliveries`` by the next delivery pass, which deletes it. Fanning out in
    the billing transaction itself (a row per event and per delivery, with their indexes and foreign keys)
    cost a chunk about 3% more than the one row."""

    __tablename__ = "webhook_outbox"
    id: Mapped[uuid.UUID] = _id()
    #: a JSON line [[event id, account_id, type, created_at, [endpoint ids]]...], then each event's body on a
    #: line of its own
    content: Mapped[str] = mapped_column(Text)
    deliveries: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class WebhookEvent(Base):
    """An event as its deliveries send it: ``body`` is the exact JSON every delivery of it sends (and signs).
    Fanned out from :class:`WebhookOutbox`."""

    __tablename__ = "webhook_events"
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class WebhookDelivery(Base):
    """One event for one endpoint, fanned out from :class:`WebhookOutbox` with its event."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_account_created", "account_id", "created_at", "id"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text(f"status = '{DeliveryStatus.PENDING}'"),
        ),
    )
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    #: a worker delivering it holds it until then; a worker that dies leaves it to be taken again after
    leased_until: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    id: Mapped[uuid.UUID] = _id()
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    http_status: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)


# --- backtests ------------------------------------------------------------------------------------------------


class Backtest(Base):
    """A pricing backtest (what-if): its request, its progress, and when it ended."""

    __tablename__ = "backtests"
    id: Mapped[uuid.UUID] = _id()
    account_id: Mapped[uuid.UUID] = _account()
    status: Mapped[str] = mapped_column(String(16))
    #: {"from", "to", "replacePrices": [{"priceId", "with": canonical price}], "customerIds": [...] | null}
    request: Mapped[dict[str, Any]]
    schedules_total: Mapped[int] = mapped_column(default=0)
    schedules_done: Mapped[int] = mapped_column(default=0)
    #: the last schedule re-rated (schedules are taken in id order, a chunk at a time)
    cursor: Mapped[uuid.UUID | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = _updated()
    completed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class BacktestRow(Base):
    """One schedule's drafting date in a backtest: its net total as billed and with the replacement prices."""

    __tablename__ = "backtest_rows"
    backtest_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("backtests.id", ondelete="CASCADE"), primary_key=True)
    billing_schedule_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    drafting_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    customer_id: Mapped[uuid.UUID]
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[dt.date | None] = mapped_column(Date)
    period_end: Mapped[dt.date | None] = mapped_column(Date)
    old_net: Mapped[Decimal]
    new_net: Mapped[Decimal]
