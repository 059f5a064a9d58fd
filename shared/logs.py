"""structlog configuration: JSON off a terminal, console on one, context from contextvars.

Call ``configure_logging`` once from a service's composition root; never at import time.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Literal

import orjson
import structlog

LogFormat = Literal["auto", "json", "console"]
"""``json`` lines, ``console`` lines, or ``auto``: console on a terminal, JSON elsewhere."""


def configure_logging(level: str = "INFO", fmt: LogFormat = "auto") -> None:
    """structlog for our own lines, and the same renderer for every library's ``logging`` lines.

    aiokafka, uvicorn, asyncio and the rest log through the standard library; their records go
    through structlog's ``ProcessorFormatter`` on the root handler, so one service writes one
    format (JSON lines, or console lines on a terminal). uvicorn servers are built with
    ``log_config=None`` so that uvicorn installs no handlers of its own.
    """
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    # Our own lines, one per webhook on the ingress's hot path: orjson renders them to bytes
    # and the bytes go straight to stderr (a tenth of the cost of the standard json module).
    own_renderer: structlog.typing.Processor = (
        renderer if use_console else structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    )
    factory: structlog.typing.WrappedLogger = (
        structlog.PrintLoggerFactory(file=sys.stderr)
        if use_console
        else structlog.BytesLoggerFactory(file=sys.stderr.buffer)
    )
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        numeric_level = logging.INFO
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            timestamper,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            own_renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    rendering: list[structlog.typing.Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta
    ]
    if not use_console:  # the console renderer draws tracebacks itself
        rendering.append(structlog.processors.format_exc_info)
    handler = _StructlogHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                timestamper,
            ],
            processors=[*rendering, renderer],
        )
    )
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _StructlogHandler)]:
        root.removeHandler(previous)  # configured again (tests build several services)
    root.addHandler(handler)
    root.setLevel(max(numeric_level, logging.WARNING))
    for name in _LIBRARY_LOGGERS:  # handlers a library installed for itself (uvicorn's defaults)
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True


#: Libraries that may have installed handlers of their own before we configure logging: their
#: lines go to the root handler above like every other library's.
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "aiokafka", "asyncio")


class _StructlogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler ``configure_logging`` installs (told apart from other handlers)."""


def _orjson_dumps(value: object, **_: object) -> bytes:
    """A log line as JSON bytes; what orjson refuses (an integer past 64 bits) goes through the
    standard module, so a log call never raises."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(value, default=str).encode()


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
