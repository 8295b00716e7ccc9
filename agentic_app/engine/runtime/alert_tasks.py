"""RQ job function of alert delivery (ids only): one delivery of one alert to one channel,
with the process's database and Redis (see :mod:`agentic_app.engine.alerts.delivery`)."""

from __future__ import annotations

from agentic_app.engine.alerts.delivery import deliver_one
from agentic_app.engine.runtime.clients import process_clients


def deliver_alert(delivery_id: int) -> str:
    """Send delivery ``delivery_id``; its new status ('stale': not ours, nothing done)."""
    clients = process_clients()
    return deliver_one(clients.db, clients.redis, clients.settings, int(delivery_id))
