"""Retention of alerts: inbox entries older than ``RETENTION__FAILED_DAYS`` go, with their
deliveries (pending ones included: an alert that old is not worth sending any more)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from agentic_app.db.alert_models import NotificationDelivery
from agentic_app.db.engine import Database
from agentic_app.db.models import utcnow
from agentic_app.db.trading_models import Notification

BATCH = 500
"""Inbox entries deleted per transaction."""


def purge_alerts(db: Database, days: float, now: datetime | None = None) -> int:
    """Delete inbox entries created more than ``days`` ago and their deliveries; how many
    entries went."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    removed = 0
    while True:
        with db.session() as s:
            ids = list(s.exec(select(Notification.id).where(Notification.created_at < cutoff)
                              .order_by(Notification.id).limit(BATCH)).all())
            if not ids:
                return removed
            s.execute(sa.delete(NotificationDelivery).where(
                col(NotificationDelivery.notification_id).in_(ids)))
            s.execute(sa.delete(Notification).where(col(Notification.id).in_(ids)))
            removed += len(ids)
