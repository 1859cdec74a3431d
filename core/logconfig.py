"""One log format for the API and the workers.

Messages stay stable; what varies (job id, status, optimizer, ...) travels in
`extra` and is appended as key=value pairs, so lines can be grepped by job.
"""

from __future__ import annotations

import logging
import sys

# Attributes every LogRecord has; anything else came in through `extra`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class KeyValueFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        extras = {
            key: value for key, value in vars(record).items() if key not in _STANDARD
        }
        if extras:
            line += " " + " ".join(f"{key}={value}" for key, value in extras.items())
        return line


def configure_logging(level: str = "INFO") -> None:
    """Send `trainjobs` logs to stderr, one line per event."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # One line per request or task from these libraries drowns our own
    # one-line-per-state-change logs; their warnings still come through.
    for noisy in ("httpx", "celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
