"""Structured logs: one JSON object a line, for the server and uvicorn alike.

Nothing the server logs carries a token, an address or an e-mail: the access log is off
(its lines hold the token paths and client addresses), and the server's own messages are
written not to contain them.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "log_config"]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A logging.config dict for uvicorn's ``log_config``: JSON lines on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "tracker.logs.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "tracker": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }
