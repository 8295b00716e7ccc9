"""Redis names of alerts: the live inbox channel, the storm gate, the sweep lock, the RQ job."""

from __future__ import annotations

from agentic_app.domain.alerts import INBOX_CHANNEL_PREFIX, inbox_channel

__all__ = ["DELIVER_FUNC", "INBOX_CHANNEL_PREFIX", "STORM_PREFIX", "SWEEP_LOCK",
           "inbox_channel", "storm_key"]
STORM_PREFIX = "agentic:alerts:storm:"
"""Key prefix of the storm gate of one (channel, schedule): held for the storm window."""
SWEEP_LOCK = "agentic:alerts:lock:sweep"
"""Held (SET NX PX) by the worker running a sweep."""
DELIVER_FUNC = "agentic_app.engine.runtime.alert_tasks.deliver_alert"
"""Dotted path of the RQ job function (argument: the delivery id)."""


def storm_key(channel_id: int, scheduled_job_id: int) -> str:
    """The storm gate of one channel and one schedule."""
    return f"{STORM_PREFIX}{channel_id}:{scheduled_job_id}"
