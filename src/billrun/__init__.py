"""billrun: an open-source billing engine with a Sequence-compatible API."""

__version__ = "0.1.0"
ENGINE_VERSION = f"billrun/{__version__}"
