"""billrun.api.routers."""
