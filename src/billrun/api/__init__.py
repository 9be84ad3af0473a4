"""FastAPI application: Sequence-compatible resources under /api."""
