"""The pure billing core (SPEC §4, §5.1-§5.5): no I/O, no clock reads, exact arithmetic.

Imports nothing from SQLAlchemy, Celery, FastAPI, psycopg, redis or the rest of billrun. Callers pass
``today``/``now`` and every input explicitly; the same inputs always give the same invoice (SPEC §4.12).
"""
