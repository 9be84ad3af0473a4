"""billrun: an open-source billing engine with a Sequence-compatible API."""

__version__ = "0.2.0"
ENGINE_VERSION = f"billrun/{__version__}"

# every billrun logger routes through the standard library from the first import (billrun.logs)
from billrun import logs as _logs  # noqa: E402, F401
