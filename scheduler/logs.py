"""Structured logging: a stable event name plus fields, as text or JSON lines.

    log = get_logger(__name__)
    log.info("fire.dispatched", schedule_id=sid, lag_ms=12.5)
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        if self.as_json:
            line = {"ts": ts, "level": record.levelname.lower(), "logger": record.name,
                    "event": record.getMessage(), **fields}
            if record.exc_info:
                line["exc"] = self.formatException(record.exc_info)
            return json.dumps(line, default=str)
        text = " ".join(f"{k}={v}" for k, v in fields.items())
        out = f"{ts} {record.levelname:<7} {record.getMessage()} {text}".rstrip()
        if record.exc_info:
            out += "\n" + self.formatException(record.exc_info)
        return out


class EventLogger:
    """A thin wrapper so call sites read ``log.info("event", key=value)``."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def _log(self, level: int, event: str, exc_info: bool, fields: dict[str, Any]) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, event, extra={"fields": fields}, exc_info=exc_info)

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, False, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, False, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, False, fields)

    def error(self, event: str, exc_info: bool = False, **fields: Any) -> None:
        self._log(logging.ERROR, event, exc_info, fields)


def get_logger(name: str) -> EventLogger:
    return EventLogger(name)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(as_json=fmt == "json"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("apscheduler", "uvicorn.access", "celery", "kombu", "amqp", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def format_handlers(logger: logging.Logger, fmt: str = "text") -> None:
    """Tocsin's format (the event, then its fields) on handlers another framework made:
    a worker started as ``celery -A tasks.app worker`` logs with Celery's handlers,
    whose format drops every field."""
    for handler in logger.handlers:
        handler.setFormatter(_Formatter(as_json=fmt == "json"))


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short log field (drivers' messages run over many lines)."""
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:limit] if text.strip() else type(exc).__name__
