"""Celery app, beat schedule and thin tasks that call :mod:`billrun.billing`."""
