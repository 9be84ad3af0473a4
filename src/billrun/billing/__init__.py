"""Use cases: plan due runs, execute a run, recalculate, travel in time. Services never commit; the caller's
unit of work does. Enqueuing goes through :mod:`billrun.billing.dispatch`, never through Celery directly."""
