"""In-app notifications plus delivery to apprise URLs (one result per URL, no secrets stored).

Every delivery goes through the outbound policy (:mod:`agentic_app.engine.executor.outbound`):
the target is checked before sending, apprise follows no redirects, and every connection
made while sending is checked again. A refused target reads "refused: target not allowed";
a failed delivery reports only the error type, never what the remote host answered.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from agentic_app.db.engine import Database
from agentic_app.db.trading_models import Notification
from agentic_app.domain.alerts import inbox_channel
from agentic_app.domain.outbound import (
    TARGET_REFUSED,
    OutboundPolicy,
    TargetRefusedError,
    url_scheme,
)
from agentic_app.engine.executor.outbound import check_target, guarded

log = logging.getLogger(__name__)


def _default_policy() -> OutboundPolicy:
    from agentic_app.settings import get_settings

    return get_settings().outbound.policy()


def deliver(url: str, title: str, body: str, policy: OutboundPolicy | None = None) -> dict:
    """Send one apprise notification: ``{"schema", "ok", "error"?}`` (the URL is not kept).

    ``policy`` defaults to the settings' ``OUTBOUND``."""
    import apprise

    policy = policy or _default_policy()
    result = {"schema": url_scheme(url) or "unknown", "ok": False}
    try:
        check_target(url, policy)
    except TargetRefusedError:
        result["error"] = TARGET_REFUSED
        return result
    plugin = apprise.Apprise.instantiate(url, asset=apprise.AppriseAsset(http_redirects=False))
    if plugin is None:
        result["error"] = "not a valid apprise URL"
        return result
    plugin.redirects = False  # also when the URL says ?redirect=yes
    failure = "delivery failed"
    with guarded(policy) as guard:
        try:
            result["ok"] = bool(plugin.notify(title=title, body=body or title))
        except Exception as exc:  # apprise plugins raise many kinds; never fail the caller
            log.info("notification delivery to %s raised", result["schema"], exc_info=True)
            failure = f"delivery failed ({type(exc).__name__})"
    if guard.refused:
        result["ok"], result["error"] = False, TARGET_REFUSED
    elif not result["ok"]:
        result["error"] = failure
    return result


class Notifier:
    """Writes the notification row, then tries each apprise URL under ``policy``
    (default: the settings' ``OUTBOUND``)."""

    def __init__(self, db: Database, policy: OutboundPolicy | None = None,
                 on_inbox: Callable[[int], None] | None = None):
        self.db = db
        self.policy = policy
        self.on_inbox = on_inbox
        """Called with the user id after a row is written (nudges the user's open bells)."""

    def notify(self, *, user_id: int, title: str, body: str = "", level: str = "info",
               execution_id: int | str | None = None, node_id: str | None = None,
               apprise_urls: list[str] | tuple[str, ...] = ()) -> dict:
        """Create the in-app notification and deliver it; returns its id and delivery results."""
        delivered = [deliver(url, title, body, self.policy) for url in apprise_urls]
        with self.db.session() as session:
            row = Notification(user_id=user_id, title=title[:200], body=body, level=level,
                               execution_id=execution_id if isinstance(execution_id, int) else None,
                               node_id=node_id, delivered_to=delivered)
            session.add(row)
            session.flush()
            notification_id = row.id
        if self.on_inbox is not None:
            try:
                self.on_inbox(user_id)
            except Exception as exc:  # a missed nudge only delays a bell; never fail the node
                log.info("inbox nudge for user %s failed: %s", user_id, exc)
        return {"notification_id": notification_id, "delivered": delivered}


def inbox_nudge(redis: Callable[[], Any]) -> Callable[[int], None]:
    """An ``on_inbox`` that publishes on the user's inbox channel through ``redis()``."""
    def nudge(user_id: int) -> None:
        redis().publish(inbox_channel(user_id), json.dumps({"type": "inbox"}))
    return nudge
