"""Every status billrun stores or answers, and the groups the rules use, defined once (Sequence's values).

``StrEnum`` members are their strings: they compare equal to what the database and JSON hold, so a row read
back or a request body needs no conversion."""

from __future__ import annotations

from enum import StrEnum


class InvoiceStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"  # held out of the billing runs while a person edits it
    DRAFT = "DRAFT"
    FINAL = "FINAL"
    SENT = "SENT"
    VOIDED = "VOIDED"


#: A billing run or a recalculation may still rewrite these invoices.
LIVE_EDITABLE = frozenset({InvoiceStatus.DRAFT, InvoiceStatus.IN_PROGRESS})
#: Issued: never rewritten; late usage goes to the next invoice.
FINALIZED = frozenset({InvoiceStatus.FINAL, InvoiceStatus.SENT, InvoiceStatus.VOIDED})
#: Issued and standing: what a payment status may be recorded on.
ISSUED = frozenset({InvoiceStatus.FINAL, InvoiceStatus.SENT})


class PaymentStatus(StrEnum):
    UNPAID = "UNPAID"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    PAID = "PAID"
    UNCOLLECTIBLE = "UNCOLLECTIBLE"


class RunStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    DEPRECATED = "DEPRECATED"  # its schedule changed: the date is no longer billed


#: Due runs not executed yet, or executing.
IN_FLIGHT = frozenset({RunStatus.SCHEDULED, RunStatus.IN_PROGRESS})
#: Runs still owed an execution: never executed, or failed and retried.
OUTSTANDING = frozenset({RunStatus.SCHEDULED, RunStatus.FAILED})


class Trigger(StrEnum):
    """What made a billing run execute, or an invoice's latest calculation happen."""

    SCHEDULE = "SCHEDULE"
    MANUAL = "MANUAL"
    TIME_TRAVELLER = "TIME_TRAVELLER"
    RECALCULATION = "RECALCULATION"


class ExecutionStatus(StrEnum):
    """What one attempt to execute a run did."""

    COMPLETED = "COMPLETED"
    SKIPPED = "SKIPPED"  # nothing to do: done already, or another worker holds it
    DEFERRED = "DEFERRED"  # its schedule was busy: back to the next tick
    FAILED = "FAILED"


class BacktestStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class ScheduleStatus(StrEnum):
    DRAFT = "DRAFT"
    PENDING = "PENDING"  # starts in the future
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"


#: Schedules whose terms may still be changed.
AMENDABLE = frozenset({ScheduleStatus.DRAFT, ScheduleStatus.PENDING, ScheduleStatus.ACTIVE})


class TravellerStatus(StrEnum):
    READY = "READY"
    IN_PROGRESS = "IN_PROGRESS"


class CatalogStatus(StrEnum):
    """Sequence's status of a price or a customer: stored and served, it changes no bill."""

    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"


class DeliveryStatus(StrEnum):
    """A webhook delivery: waiting for its next attempt, answered with a 2xx, or given up on."""

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class EndpointStatus(StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"  # by its owner, or after failing every attempt for days


class EventType(StrEnum):
    """What a webhook reports."""

    INVOICE_DRAFTED = "invoice.drafted"
    INVOICE_RECALCULATED = "invoice.recalculated"
    INVOICE_FINALIZED = "invoice.finalized"
    INVOICE_SENT = "invoice.sent"
    INVOICE_VOIDED = "invoice.voided"
    INVOICE_DELETED = "invoice.deleted"
    BILLING_RUN_FAILED = "billing_run.failed"
    TIME_TRAVELLER_READY = "time_traveller.ready"
