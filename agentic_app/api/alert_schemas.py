"""Request and response models of the notification routes: inbox entries, channels (URL
shown masked only), test results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentic_app.api.schemas import Public, Text
from agentic_app.domain.alerts import MAX_CHANNEL_NAME, MAX_CHANNEL_URL, RULE_KINDS

KindName = Literal[RULE_KINDS]  # type: ignore[valid-type]
"""An alert kind a channel rule can select."""
ChannelName = Annotated[Text, Field(min_length=1, max_length=MAX_CHANNEL_NAME)]
ChannelUrl = Annotated[Text, Field(min_length=1, max_length=MAX_CHANNEL_URL,
                                   description="apprise URL, e.g. json://hooks.example.com/x"
                                               " or mailto://user:pass@example.com")]
KindList = Annotated[list[KindName], Field(max_length=len(RULE_KINDS))]


class DeliveryPublic(Public):
    """The outcome of one alert on one channel."""

    channel_id: int
    channel: str
    status: str = Field(description="pending, sending, sent, failed, suppressed (held by the "
                                    "storm window) or summarized (sent as part of a summary)")
    attempts: int
    error: str | None
    sent_at: datetime | None


class NotificationPublic(Public):
    """One inbox entry."""

    id: int
    kind: str
    title: str
    body: str
    level: str
    read: bool
    created_at: datetime
    execution_id: int | None
    scheduled_job_id: int | None
    refs: dict[str, Any]
    deliveries: list[DeliveryPublic]


class UnreadCount(Public):
    """How many inbox entries are unread."""

    unread: int


class MarkedRead(Public):
    """How many entries ``read-all`` marked."""

    marked: int


class AlertKindPublic(Public):
    """An alert kind and its label."""

    name: str
    label: str


class ChannelPublic(Public):
    """A notification channel; ``url_masked`` keeps only scheme and host of the URL."""

    id: int
    name: str
    url_masked: str
    enabled: bool
    kinds: list[str]
    last_status: str | None = Field(description="ok, retrying or failed")
    last_error: str | None
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    failures: int = Field(description="consecutive failed attempts")
    created_at: datetime
    updated_at: datetime


class ChannelCreate(BaseModel):
    """A new channel (``kinds`` defaults to every kind)."""

    model_config = ConfigDict(extra="forbid")

    name: ChannelName
    url: ChannelUrl
    kinds: KindList | None = None
    enabled: bool = True


class ChannelUpdate(BaseModel):
    """Fields to change (absent ones stay)."""

    model_config = ConfigDict(extra="forbid")

    name: ChannelName | None = None
    url: ChannelUrl | None = None
    kinds: KindList | None = None
    enabled: bool | None = None


class ChannelTestResult(Public):
    """The outcome of a test message (also recorded on the channel)."""

    ok: bool
    error: str | None
    channel: ChannelPublic
