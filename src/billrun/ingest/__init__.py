"""billrun.ingest."""
