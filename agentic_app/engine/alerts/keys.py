"""Redis names of alerts: the live inbox channel, the storm gate, the sweep lock, the RQ job."""

from __future__ import annotations

INBOX_CHANNEL_PREFIX = "agentic:alerts:inbox:"
"""Pub/sub channel prefix nudged whenever a user's inbox changes (``...:<user_id>``)."""
STORM_PREFIX = "agentic:alerts:storm:"
"""Key prefix of the storm gate of one (channel, schedule): held for the storm window."""
SWEEP_LOCK = "agentic:alerts:lock:sweep"
"""Held (SET NX PX) by the worker running a sweep."""
DELIVER_FUNC = "agentic_app.engine.runtime.alert_tasks.deliver_alert"
"""Dotted path of the RQ job function (argument: the delivery id)."""


def inbox_channel(user_id: int) -> str:
    """The pub/sub channel of ``user_id``'s inbox."""
    return f"{INBOX_CHANNEL_PREFIX}{user_id}"


def storm_key(channel_id: int, scheduled_job_id: int) -> str:
    """The storm gate of one channel and one schedule."""
    return f"{STORM_PREFIX}{channel_id}:{scheduled_job_id}"
