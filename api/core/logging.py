"""Structured logs: one JSON object per line on stderr."""

from __future__ import annotations

import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def json_logging_config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` mapping; also used for uvicorn's own loggers."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": JsonFormatter,
                "fmt": JSON_FIELDS,
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": sys.stderr}
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
        },
    }


def configure_logging(level: str) -> None:
    import logging.config

    logging.config.dictConfig(json_logging_config(level))
    logging.getLogger(__name__).debug("logging configured at %s", level)
