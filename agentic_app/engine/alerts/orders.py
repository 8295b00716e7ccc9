"""Alerts about orders: the ``order_alert_only`` alert of an order an alert-only run would
have placed (inbox row + the user's channels routing that kind)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentic_app.broker.alert_only import describe_order
from agentic_app.db.engine import Database
from agentic_app.db.trading_models import AlertOrder
from agentic_app.engine.alerts.emit import emit_alert
from agentic_app.settings import Settings


def order_alert(db: Database, redis: Any, settings: Settings | None,
                scheduled_job_id: int | None) -> Callable[[AlertOrder], Any]:
    """A ``send_alert`` for :class:`~agentic_app.broker.alert_only.AlertOnlyBroker`: one
    ``order_alert_only`` alert per recorded would-be order, linked to its execution and
    schedule (the schedule groups a storm into one summary per channel)."""
    def send(row: AlertOrder) -> Any:
        title, body = describe_order(row)
        return emit_alert(db, redis, user_id=row.user_id, kind="order_alert_only",
                          subject=title, body=body,
                          refs={"alert_order_id": row.id, "execution_id": row.execution_id},
                          scheduled_job_id=scheduled_job_id, execution_id=row.execution_id,
                          settings=settings)
    return send
