"""Keeps the TradingView secret out of the access log: a filter on the ASGI servers' access
loggers (``granian.access``, which Reflex runs, and ``uvicorn.access``) that rewrites the logged
path of webhook requests (``/api/agentic/webhooks/<token>/<secret>`` and ``?secret=``) before
any handler formats it. (Granian logs no access by default; the filter holds if it is on.)"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGERS = ("granian.access", "uvicorn.access")
"""granian's record args: a dict with ``path`` and ``query_string``; uvicorn's: a tuple
(client, method, path with query, http version, status)."""
REDACTED = "[redacted]"
_SECRET_SEGMENT = re.compile(r"(/webhooks/[^/?#]*/)[^?#]*")
_SECRET_QUERY = re.compile(r"((?:^|[?&])secret=)[^&#]*", re.IGNORECASE)


def redact_path(path: str) -> str:
    """``path`` with a webhook's path secret and any ``secret=`` query value replaced."""
    if "/webhooks/" not in path:
        return path
    base, sep, query = path.partition("?")
    base = _SECRET_SEGMENT.sub(rf"\g<1>{REDACTED}", base)
    return base + sep + (redact_query(query) if sep else "")


def redact_query(query: str) -> str:
    """A query string with any ``secret=`` value replaced."""
    return _SECRET_QUERY.sub(rf"\g<1>{REDACTED}", query)


class WebhookSecretFilter(logging.Filter):
    """Rewrites the path of granian's and uvicorn's access records (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, dict) and isinstance(args.get("path"), str):
            args = dict(args, path=redact_path(args["path"]))
            if isinstance(args.get("query_string"), str) and "/webhooks/" in args["path"]:
                args["query_string"] = redact_query(args["query_string"])
            record.args = args
        elif isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def install_access_log_redaction() -> None:
    """Add the filter to each access logger once (idempotent: every API app calls it)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, WebhookSecretFilter) for f in logger.filters):
            logger.addFilter(WebhookSecretFilter())
