"""billrun.billing."""
