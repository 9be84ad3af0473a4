"""Persistence: SQLAlchemy 2 tables, sessions, and every SQL query of the project."""
