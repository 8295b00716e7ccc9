"""Emit an alert from anywhere below the facade: record it (own transaction, or the caller's
via :func:`record_alert` + :func:`after_commit`), then push its deliveries to RQ and nudge
the user's live inbox. Redis trouble after the commit loses nothing: the sweep pushes
deliveries nobody claimed."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis as redis_lib

from agentic_app.db.engine import Database
from agentic_app.engine.alerts.keys import DELIVER_FUNC, inbox_channel
from agentic_app.engine.alerts.record import RecordedAlert, record_alert
from agentic_app.settings import Settings, get_settings

log = logging.getLogger(__name__)

ALERT_QUEUE = "agentic-high"
"""RQ queue of deliveries (workers take it first: alerts do not wait behind runs)."""
RQ_RESULT_TTL_S = 600
"""How long RQ keeps a delivery job's result (the database keeps the history)."""


def push_deliveries(redis: redis_lib.Redis, delivery_ids: list[int]) -> None:
    """Queue one RQ job per delivery (duplicates are harmless: a delivery is claimed once)."""
    if not delivery_ids:
        return
    from rq import Queue
    from rq.serializers import JSONSerializer

    queue = Queue(ALERT_QUEUE, connection=redis, serializer=JSONSerializer)
    with redis.pipeline() as pipe:
        for delivery_id in delivery_ids:
            queue.enqueue_call(DELIVER_FUNC, args=(delivery_id,), timeout=120,
                               result_ttl=RQ_RESULT_TTL_S, failure_ttl=86_400,
                               description=f"alert delivery {delivery_id}", pipeline=pipe)
        pipe.execute()


def publish_inbox(redis: redis_lib.Redis, user_id: int, **data: Any) -> None:
    """Nudge ``user_id``'s live inbox subscribers (bells re-read their unread count)."""
    redis.publish(inbox_channel(user_id), json.dumps({"type": "inbox", **data}))


def after_commit(redis: redis_lib.Redis | None, alert: RecordedAlert | None) -> None:
    """Push the deliveries and nudge the inbox of a committed alert; errors are logged (the
    sweep pushes what was not)."""
    if alert is None or redis is None:
        return
    try:
        push_deliveries(redis, alert.delivery_ids)
        publish_inbox(redis, alert.user_id, notification_id=alert.notification_id)
    except (redis_lib.RedisError, OSError) as exc:
        log.warning("alert %s: Redis error after commit (%s); the sweep pushes it",
                    alert.notification_id, exc)


def emit_alert(db: Database, redis: redis_lib.Redis | None, *, user_id: int, kind: str,
               subject: str, body: str = "", refs: dict[str, Any] | None = None,
               scheduled_job_id: int | None = None, execution_id: int | None = None,
               level: str | None = None, settings: Settings | None = None) -> RecordedAlert:
    """Record the alert in its own transaction, then push and nudge; ValueError for an
    unknown kind."""
    settings = settings or get_settings()
    with db.session() as s:
        alert = record_alert(s, user_id=user_id, kind=kind, subject=subject, body=body,
                             refs=refs, scheduled_job_id=scheduled_job_id,
                             execution_id=execution_id, level=level,
                             push_after_s=settings.alerts.stale_after_seconds
                             if redis is not None else 0.0)  # no Redis: the sweep pushes
    after_commit(redis, alert)
    return alert


def emit_quietly(db: Database, redis: redis_lib.Redis | None, **kwargs: Any) -> None:
    """:func:`emit_alert` for hooks whose own work must not fail over an alert: any error is
    logged, never raised."""
    try:
        emit_alert(db, redis, **kwargs)
    except Exception:
        log.exception("could not emit a %s alert", kwargs.get("kind"))
