"""Logging with the standard library: one logger per module (`logging.getLogger(__name__)`),
all under "lib", written to a rotating file under the data directory and to stderr.

What we log is metadata (provider, model, status, sizes, timings, file names), never a key
nor a document's or a message's text. As a second guard, the formatter blanks any configured
key, and anything shaped like a key or a bearer token (lib.core.redaction), that still finds its
way into a record, traceback included (say, inside a third-party exception's message).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from pathlib import Path

from lib.core.redaction import redact, remember_secrets
from lib.core.settings import Settings

LOGGER = "lib"
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"
MAX_BYTES = 5 << 20
BACKUPS = 3

_lock = threading.Lock()
_state: tuple | None = None


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def log_path(settings: Settings) -> Path:
    return settings.data_dir / "logs" / "promptlab.log"


def setup_logging(settings: Settings) -> Path:
    """Configure the "lib" loggers once per settings; returns the log file's path."""
    global _state
    remember_secrets(settings.anthropic_api_key, settings.openai_api_key,
                     settings.openai_compat_api_key)
    path = log_path(settings)
    state = (path, settings.log_level)
    with _lock:
        if _state == state:
            return path
        logger = logging.getLogger(LOGGER)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        formatter = _Redacting(FORMAT)
        handlers: list[logging.Handler] = [
            logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                 encoding="utf-8"),
            logging.StreamHandler(sys.stderr)]
        for handler in handlers:
            handler.setFormatter(formatter)
            logger.addHandler(handler)
        logger.setLevel(settings.log_level)
        logger.propagate = False  # Streamlit configures the root logger its own way
        _state = state
    return path
