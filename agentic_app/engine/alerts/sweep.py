"""The backstop of alert delivery, run by every worker (one at a time, under a Redis lock):

1. deliveries whose sender died ('sending' past ``ALERTS__STALE_AFTER_SECONDS``: the
   work-horse was killed mid-send) go back to pending - nothing is lost, at worst a message
   is sent twice;
2. pending deliveries that are due (a retry after its backoff, or one whose RQ job was lost)
   are pushed to RQ again;
3. suppressed deliveries whose storm window ended become one summary delivery per
   (channel, schedule), which takes the next window.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import redis as redis_lib
import sqlalchemy as sa
from sqlmodel import col, select

from agentic_app.db.alert_models import DeliveryStatus, NotificationDelivery
from agentic_app.db.engine import Database, fork_barrier
from agentic_app.db.models import utcnow
from agentic_app.engine.alerts.delivery import SUMMARY_KIND, fold_suppressed
from agentic_app.engine.alerts.emit import push_deliveries
from agentic_app.engine.alerts.keys import SWEEP_LOCK, storm_key
from agentic_app.settings import Settings, get_settings

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 1.0
"""How often (cluster-wide, one worker at a time) :func:`sweep` runs."""
BATCH = 500
"""Most deliveries one pass pushes."""
D = NotificationDelivery


def sweep(db: Database, redis: redis_lib.Redis, settings: Settings) -> dict[str, int]:
    """One pass (see the module docstring); counts of what it did."""
    now = utcnow()
    lease = timedelta(seconds=settings.alerts.stale_after_seconds)
    counts = {"revived": 0, "pushed": 0, "summaries": 0}
    with db.session() as s:
        counts["revived"] = s.execute(sa.update(D).where(
            D.status == DeliveryStatus.sending.value, D.claimed_at < now - lease,
        ).values(status=DeliveryStatus.pending.value, next_attempt_at=now)).rowcount
    with db.session() as s:
        due = list(s.exec(select(D.id).where(
            D.status == DeliveryStatus.pending.value, D.next_attempt_at <= now)
            .order_by(D.id).limit(BATCH)).all())
        if due:
            s.execute(sa.update(D).where(col(D.id).in_(due),
                                         D.status == DeliveryStatus.pending.value)
                      .values(next_attempt_at=now + lease))
    push_deliveries(redis, due)
    counts["pushed"] = len(due)
    counts["summaries"] = _summaries(db, redis, settings, now)
    if any(counts.values()):
        log.info("alert sweep: %s", counts)
    return counts


def _summaries(db: Database, redis: redis_lib.Redis, settings: Settings, now) -> int:
    with db.session() as s:
        pairs = s.exec(select(D.channel_id, D.scheduled_job_id).distinct().where(
            D.status == DeliveryStatus.suppressed.value, D.next_attempt_at <= now)).all()
    window_ms = int(settings.alerts.storm_window_minutes * 60_000)
    made: list[int] = []
    for channel_id, job_id in pairs:
        key = storm_key(channel_id, job_id)
        if not redis.set(key, "summary", nx=True, px=window_ms):
            ttl = timedelta(milliseconds=max(int(redis.pttl(key)), 0))
            with db.session() as s:
                s.execute(sa.update(D).where(
                    D.channel_id == channel_id, D.scheduled_job_id == job_id,
                    D.status == DeliveryStatus.suppressed.value).values(next_attempt_at=now + ttl))
            continue
        with db.session() as s:
            latest = s.exec(select(D).where(
                D.channel_id == channel_id, D.scheduled_job_id == job_id,
                D.status == DeliveryStatus.suppressed.value).order_by(col(D.id).desc())).first()
            if latest is None:
                continue
            row = D(notification_id=latest.notification_id, channel_id=channel_id,
                    user_id=latest.user_id, scheduled_job_id=job_id, kind=SUMMARY_KIND,
                    storm_checked=True, created_at=now,
                    next_attempt_at=now + timedelta(seconds=settings.alerts.stale_after_seconds))
            s.add(row)
            s.flush()
            fold_suppressed(s, row, now)
            made.append(int(row.id))
    push_deliveries(redis, made)
    return len(made)


class AlertSweepThread(threading.Thread):
    """Daemon thread of a worker process running :func:`sweep` when it holds the lock;
    errors are logged and the loop goes on."""

    def __init__(self, *, db: Database, redis_url: str, settings: Settings | None = None,
                 name: str = "alert-sweep") -> None:
        super().__init__(name=name, daemon=True)
        self.db = db
        self.redis_url = redis_url
        self.settings = settings or get_settings()
        self.stopped = threading.Event()

    def stop(self) -> None:
        """Ask the loop to end."""
        self.stopped.set()

    def run(self) -> None:
        """Loop until stopped."""
        from agentic_app.engine.redis_conn import connect

        redis = connect(self.redis_url)
        token = f"{self.name}-{id(self)}"
        while not self.stopped.wait(SWEEP_INTERVAL_S):
            try:
                if redis.set(SWEEP_LOCK, token, nx=True, px=int(SWEEP_INTERVAL_S * 900)):
                    with fork_barrier():
                        sweep(self.db, redis, self.settings)
            except Exception as exc:  # keep sweeping through outages
                log.warning("alert sweep error: %s: %s", type(exc).__name__, exc)
