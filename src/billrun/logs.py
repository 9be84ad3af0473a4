"""One logging setup for every billrun process (api, worker, beat, cli).

billrun's own code logs through structlog with fields (``log.info("billing run completed", run_id=...)``);
libraries (Celery, uvicorn, Alembic, SQLAlchemy) log through the standard library. Both end in one handler on
stderr that renders each record as one JSON object per line (``BILLRUN_LOG_FORMAT=json``, the default when
stderr is not a terminal: systemd, Docker, a file) or as readable console lines (``console``). Every line
carries ``timestamp`` (UTC), ``level``, ``logger``, ``event`` and ``process`` (api, worker, beat, cli).
``BILLRUN_LOG_LEVEL`` sets the level.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from billrun.config import get_settings

# Libraries that are chatty at INFO about things an operator of billrun does not act on.
_QUIET = {
    "sqlalchemy.engine": logging.WARNING,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "alembic": logging.WARNING,  # `billrun db upgrade` prints what it applied itself
    "weasyprint": logging.ERROR,  # a line per rendering step of every PDF, and notes on CSS it skips
    "fontTools": logging.WARNING,  # font subsetting in PDFs
}


def _process_name(name: str) -> Processor:
    def add(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
        event.setdefault("process", name)
        return event

    return add


_process = "cli"
_format = "console"


def renders_json() -> bool:
    """Whether this process logs JSON lines (then nothing else may write free text to its stderr)."""
    return _format == "json"


def _route_to_stdlib() -> None:
    """Until :func:`configure` runs (library use, tests), structlog records still go through the standard
    library's logging, so that its handlers (pytest's caplog, an embedding application's) see them."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


_route_to_stdlib()


def configure(process: str | None = None, *, level: str | int | None = None, stream: Any = None) -> None:
    """Route every log record of this process through structlog's renderer. Safe to call again (the last call
    wins): Celery calls it once more when the worker or beat starts, keeping the process name given first."""
    global _process, _format
    _process = process or _process
    settings = get_settings()
    level = level or settings.log_level
    out = stream if stream is not None else sys.stderr
    fmt = _format = settings.log_format or ("console" if out.isatty() else "json")
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _process_name(_process),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    logging.captureWarnings(True)  # Python warnings become log records too, not free text on stderr
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name, quiet in _QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, root.level))
    # uvicorn and Celery install handlers of their own on some loggers: let everything reach the root's.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.task", "celery.worker"):
        named = logging.getLogger(name)
        named.handlers = []
        named.propagate = True
