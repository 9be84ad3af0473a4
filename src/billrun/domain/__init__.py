"""billrun.domain."""
