"""The service's log: one line per record on stderr, as text or JSON, each
tagged with the id of the request it was written for.

Configured by the app factory, so every way of starting the service (the
Procfile's uvicorn, `python -m service`, a test) logs alike; configuring
again replaces the one handler, never adds another.
"""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]

# Set by service/middleware.py for each request; copied into threads the
# request hands work to, so their records carry it too.
current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get() or "-"
        return True


class OneLineFormatter(logging.Formatter):
    """Text, with line breaks escaped: a traceback or a mail body stays on its
    record's line, and no value of a client's choosing can forge another."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "exc": self.formatException(record.exc_info) if record.exc_info else None,
        }
        return json.dumps(fields, default=str)


class ServiceHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time, as logging's last resort does."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # a log line must never break what is being logged
            self.handleError(record)


def configure_logging(*, level: str, log_format: LogFormat) -> None:
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, ServiceHandler)), None)
    if handler is None:
        handler = ServiceHandler()
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if log_format == "json" else OneLineFormatter(TEXT_FORMAT))
    handler.setLevel(level)
    root.setLevel(level)
    # uvicorn's loggers keep the levels its command line gave them, but write
    # through this handler instead of their own.
    for name in UVICORN_LOGGERS:
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
