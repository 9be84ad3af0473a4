"""Thin Celery tasks: each one calls a use case of :mod:`billrun.billing`."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="billrun.tick")
def tick() -> None:
    """Beat entry (SPEC §6.2). Discovery and fan-out arrive with the billing-run worker."""
