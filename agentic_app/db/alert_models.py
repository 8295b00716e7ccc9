"""Tables of alerts: a user's notification channels and the deliveries of alerts to them.

The inbox itself is :class:`agentic_app.db.trading_models.Notification` (one row per alert).
A delivery row is the durable record of one message to one channel: created in the same
transaction as the alert (an outbox), then sent by an RQ job; its status moves
``pending -> sending -> sent | failed``, or ``suppressed -> summarized`` when the storm
window of its (channel, schedule) held it back. Same conventions as ``db.models``.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from agentic_app.db.models import json_column, utcnow


class DeliveryStatus(str, Enum):
    """Lifecycle of one delivery of one alert to one channel."""

    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    suppressed = "suppressed"
    summarized = "summarized"


class NotificationChannel(SQLModel, table=True):
    """Where a user's alerts go: an apprise URL (a secret: ``url`` holds it encrypted, see
    ``db.channel_urls``; never shown in full), the alert kinds routed to it, and the outcome
    of its last delivery."""

    __tablename__ = "notification_channels"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=100)
    url: str = Field(sa_type=sa.Text)
    enabled: bool = Field(default=True)
    kinds: list = Field(default_factory=list, sa_column=json_column(nullable=False))
    last_status: str | None = Field(default=None, max_length=16)
    last_error: str | None = Field(default=None, max_length=500)
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    failures: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class NotificationDelivery(SQLModel, table=True):
    """One alert (inbox row) to one channel: the outbox row an RQ job sends."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        sa.Index("ix_notification_deliveries_status_due", "status", "next_attempt_at"),
        sa.Index("ix_notification_deliveries_storm", "channel_id", "scheduled_job_id",
                 "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notifications.id", index=True)
    channel_id: int = Field(foreign_key="notification_channels.id")
    user_id: int = Field(foreign_key="users.id", index=True)
    scheduled_job_id: int | None = None
    kind: str = Field(max_length=32)
    status: str = Field(default=DeliveryStatus.pending.value, max_length=16)
    attempts: int = Field(default=0)
    storm_checked: bool = Field(default=False)
    summary_count: int = Field(default=0)
    summary_since: datetime | None = None
    summary_kind: str | None = Field(default=None, max_length=32)
    next_attempt_at: datetime | None = None
    claimed_at: datetime | None = None
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    sent_at: datetime | None = None
