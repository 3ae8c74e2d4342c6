"""Log lines about events carry broker, topic and correlation id; JSON lines when asked.

``LOG_FORMAT=json`` makes every line one JSON object (for log shippers); the default ``text``
keeps Faust's format, where the event context is appended to the message.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

__all__ = ["EVENT_FIELDS", "HTTP_FIELDS", "event_context", "JsonFormatter", "logging_config"]

#: The attributes a log call about an event passes in ``extra``.
EVENT_FIELDS = ("broker", "topic", "correlation_id", "event_id")

#: The attributes of an access log line (``alphapanda.web.request_ids``), fields of their own in JSON.
HTTP_FIELDS = ("request_id", "method", "path", "status", "latency_ms")


def event_context(**fields) -> dict:
    """``extra`` for a log call about an event; absent fields are None."""
    return {name: fields.get(name) for name in EVENT_FIELDS}


def describe_context(extra: dict) -> str:
    """The context as text, for messages read by people: ``[broker=paper topic=... ...]``."""
    parts = [f"{k}={extra[k]}" for k in EVENT_FIELDS if extra.get(k) is not None]
    return f" [{' '.join(parts)}]" if parts else ""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the event context, any error."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat().replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name in EVENT_FIELDS + HTTP_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def logging_config(log_format: str, level: str = "INFO") -> dict | None:
    """A ``logging.config.dictConfig`` for Faust's ``logging_config`` setting (None: Faust's own)."""
    if log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "alphapanda.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
    }
