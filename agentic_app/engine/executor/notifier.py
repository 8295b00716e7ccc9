"""In-app notifications plus delivery to apprise URLs (one result per URL, no secrets stored)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from agentic_app.db.engine import session_scope
from agentic_app.db.trading_models import Notification

log = logging.getLogger(__name__)


def _schema(url: str) -> str:
    return urlsplit(url).scheme or "unknown"


def deliver(url: str, title: str, body: str) -> dict:
    """Send one apprise notification: ``{"schema", "ok", "error"?}`` (the URL is not kept)."""
    import apprise

    result = {"schema": _schema(url), "ok": False}
    try:
        ap = apprise.Apprise()
        if not ap.add(url):
            result["error"] = "not a valid apprise URL"
            return result
        result["ok"] = bool(ap.notify(title=title, body=body or title))
        if not result["ok"]:
            result["error"] = "delivery failed"
    except Exception as exc:  # apprise plugins raise many kinds; never fail the caller here
        result["error"] = f"{type(exc).__name__}: {exc}"
    return result


class Notifier:
    """Writes the notification row, then tries each apprise URL."""

    def __init__(self, database_url: str | None):
        self.database_url = database_url

    def notify(self, *, user_id: int, title: str, body: str = "", level: str = "info",
               execution_id: int | str | None = None, node_id: str | None = None,
               apprise_urls: list[str] | tuple[str, ...] = ()) -> dict:
        """Create the in-app notification and deliver it; returns its id and delivery results."""
        delivered = [deliver(url, title, body) for url in apprise_urls]
        with session_scope(self.database_url) as session:
            row = Notification(user_id=user_id, title=title[:200], body=body, level=level,
                               execution_id=execution_id if isinstance(execution_id, int) else None,
                               node_id=node_id, delivered_to=delivered)
            session.add(row)
            session.flush()
            notification_id = row.id
        return {"notification_id": notification_id, "delivered": delivered}
