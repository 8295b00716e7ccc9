"""Write an alert inside the caller's transaction: the inbox row and, for every enabled
channel of the user whose rule selects the kind, a pending delivery (the outbox the RQ job
and the sweep send from). Committing the caller's transaction commits the alert with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlmodel import Session, select

from agentic_app.db.alert_models import NotificationChannel, NotificationDelivery
from agentic_app.db.models import utcnow
from agentic_app.db.trading_models import Notification
from agentic_app.domain.alerts import MAX_BODY, MAX_SUBJECT, check_kind


@dataclass
class RecordedAlert:
    """What :func:`record_alert` wrote: the inbox row and the deliveries to push."""

    user_id: int
    notification_id: int
    delivery_ids: list[int] = field(default_factory=list)


def record_alert(s: Session, *, user_id: int, kind: str, subject: str, body: str = "",
                 refs: dict[str, Any] | None = None, scheduled_job_id: int | None = None,
                 execution_id: int | None = None, level: str | None = None,
                 push_after_s: float = 60.0) -> RecordedAlert:
    """Add the alert to ``s`` (flushed, not committed); ValueError for an unknown kind.

    ``push_after_s``: when the sweep pushes a delivery again if no job claimed it (the
    caller pushes it at once after its commit)."""
    spec = check_kind(kind)
    now = utcnow()
    row = Notification(user_id=user_id, title=subject[:MAX_SUBJECT], body=body[:MAX_BODY],
                       level=level or spec.level, kind=kind, execution_id=execution_id,
                       scheduled_job_id=scheduled_job_id, refs=refs or None)
    s.add(row)
    s.flush()
    channels = s.exec(select(NotificationChannel).where(
        NotificationChannel.user_id == user_id,
        NotificationChannel.enabled == True)).all()  # noqa: E712 (SQL comparison)
    deliveries = [NotificationDelivery(
        notification_id=row.id, channel_id=c.id, user_id=user_id, kind=kind,
        scheduled_job_id=scheduled_job_id, created_at=now,
        next_attempt_at=now + timedelta(seconds=push_after_s))
        for c in channels if kind in (c.kinds or [])]
    s.add_all(deliveries)
    s.flush()
    return RecordedAlert(user_id, int(row.id), [int(d.id) for d in deliveries])
