"""Secrets out of the logs: a :class:`logging.Filter` the server installs while it runs.

uvicorn's access log writes each request's path with its query string, so a realtime URL
``…/realtime?fal_jwt_token=eyJ…`` would put a live token in the log; an error message may quote
an ``Authorization`` header. :class:`RedactSecrets` rewrites every record of the loggers in
:data:`LOGGERS` (ours, uvicorn's access and error logs, httpx's) before any handler formats it:

* the value of ``fal_jwt_token=`` (and ``token=``, ``key=``, ``fal_key=``) query parameters;
* whatever follows ``Key`` or ``Bearer`` (an ``Authorization`` value);
* anything shaped like a JWT (``eyJ….….…``);
* each configured API key and its secret, wherever it appears.

Each becomes ``[REDACTED]``. The record's arguments are rewritten one by one, so formatters
that read them (uvicorn's access formatter does) keep working.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["LOGGERS", "REDACTED", "RedactSecrets", "install", "redact"]

REDACTED = "[REDACTED]"
#: The loggers whose records are redacted.
LOGGERS = ("lcm_widgets", "lcm_widgets.server", "uvicorn", "uvicorn.access", "uvicorn.error",
           "httpx", "websockets")

_PATTERNS = (
    re.compile(r"(?i)((?:[?&]|\b)(?:fal_jwt_token|token|fal_key|key|api_key)=)[^&\s\"'#]+"),
    re.compile(r"\b((?:Key|Bearer)\s+)[^\s\"',;]+"),
    re.compile(r"()eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}"),
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with tokens, keys and the given secrets replaced by ``[REDACTED]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and arguments through :func:`redact` (never drops one)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        found: set[str] = set()
        for key in secrets:
            if key:
                found.add(key)
                secret = key.split(":", 1)[1] if ":" in key else ""
                if len(secret) >= 6:
                    found.add(secret)
        self.secrets = sorted(found, key=len, reverse=True)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, self.secrets)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg, self.secrets)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info),
                                     self.secrets)
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


def install(filt: RedactSecrets) -> None:
    """Put ``filt`` on every logger of :data:`LOGGERS` (and on their handlers, which also see
    records propagated from child loggers)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.addFilter(filt)
        for handler in logger.handlers:
            handler.addFilter(filt)


def uninstall(filt: RedactSecrets) -> None:
    """Take ``filt`` off again (the server stopped)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.removeFilter(filt)
        for handler in logger.handlers:
            handler.removeFilter(filt)
