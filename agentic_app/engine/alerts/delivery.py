"""Send one delivery (the RQ job's work): claim it, pass the storm gate, send it through the
executor's SSRF-guarded apprise sender, then record the outcome on the delivery and on its
channel (where the user sees a failing channel). A failure is retried with backoff
(``ALERTS__RETRY_DELAY_SECONDS``) up to ``ALERTS__MAX_ATTEMPTS``; the sweep pushes the retry.

Storm control: per (channel, schedule) one message per ``ALERTS__STORM_WINDOW_MINUTES``. The
first delivery takes the Redis gate and is sent; the others are *suppressed* until the
window ends, when the sweep sends one summary ("12 more failures since ..."). A delivery
that takes the gate also folds in every suppressed one still waiting.

The channel's URL is stored encrypted (``db.channel_urls``) and decrypted only to send; a URL
no configured key opens is a failed attempt of that delivery, recorded on its channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis as redis_lib
import sqlalchemy as sa
from sqlmodel import col, select

from agentic_app.db.alert_models import DeliveryStatus, NotificationChannel, NotificationDelivery
from agentic_app.db.channel_urls import channel_cipher, open_url
from agentic_app.db.engine import Database
from agentic_app.db.models import utcnow
from agentic_app.db.trading_models import Notification
from agentic_app.domain.alerts import MAX_BODY, storm_summary
from agentic_app.domain.errors import FatalError
from agentic_app.engine.alerts.keys import storm_key
from agentic_app.settings import Settings

log = logging.getLogger(__name__)

Sender = Callable[[str, str, str, Any], dict]
"""``send(url, title, body, policy) -> {"ok": bool, "error"?: str}``."""
SUMMARY_KIND = "summary"
"""``kind`` of a delivery the sweep creates to summarise a storm window."""
D = NotificationDelivery


def _default_sender() -> Sender:
    from agentic_app.engine.executor.notifier import deliver

    return deliver


def retry_delay(settings: Settings, attempt: int) -> int:
    """Seconds before retrying a delivery whose attempt number ``attempt`` failed."""
    delays = settings.alerts.retry_delay_seconds or [0]
    return delays[min(attempt, len(delays)) - 1]


def claim(db: Database, delivery_id: int, settings: Settings) -> tuple[Any, Any] | None:
    """Take a pending delivery (or one whose sender died: 'sending' for longer than
    ``ALERTS__STALE_AFTER_SECONDS``); (claimed_at, attempts) or None when it is not ours."""
    now = utcnow()
    stale = now - timedelta(seconds=settings.alerts.stale_after_seconds)
    with db.write() as conn:
        done = conn.execute(sa.update(D).where(
            D.id == delivery_id,
            sa.or_(D.status == DeliveryStatus.pending.value,
                   sa.and_(D.status == DeliveryStatus.sending.value, D.claimed_at < stale)),
        ).values(status=DeliveryStatus.sending.value, claimed_at=now,
                 attempts=D.attempts + 1)).rowcount
    return (now, None) if done else None


def _pass_gate(db: Database, redis: redis_lib.Redis | None, row: NotificationDelivery,
               settings: Settings) -> bool:
    """True when the delivery may be sent now; otherwise it is marked suppressed until the
    gate of its (channel, schedule) opens again. Taking the gate folds every suppressed
    delivery of the pair into this one (its summary)."""
    if row.storm_checked or row.scheduled_job_id is None or redis is None:
        return True
    window_ms = int(settings.alerts.storm_window_minutes * 60_000)
    key = storm_key(row.channel_id, row.scheduled_job_id)
    now = utcnow()
    if not redis.set(key, row.id, nx=True, px=window_ms):
        ttl_ms = max(int(redis.pttl(key)), 0)
        with db.session() as s:
            s.execute(sa.update(D).where(D.id == row.id, D.claimed_at == row.claimed_at).values(
                status=DeliveryStatus.suppressed.value, claimed_at=None,
                attempts=D.attempts - 1, storm_checked=False,
                next_attempt_at=now + timedelta(milliseconds=ttl_ms)))
        return False
    with db.session() as s:
        fold_suppressed(s, row, now)
    return True


def fold_suppressed(s: Any, row: NotificationDelivery, now: Any) -> int:
    """Mark the pair's suppressed deliveries summarized into ``row`` (whose summary fields
    are set, in the database too); returns how many."""
    held = s.exec(select(D.id, D.kind, D.created_at).where(
        D.channel_id == row.channel_id, D.scheduled_job_id == row.scheduled_job_id,
        D.status == DeliveryStatus.suppressed.value, D.id != row.id)).all()
    values: dict[str, Any] = {"storm_checked": True}
    if held:
        s.execute(sa.update(D).where(col(D.id).in_([h[0] for h in held]),
                                     D.status == DeliveryStatus.suppressed.value)
                  .values(status=DeliveryStatus.summarized.value, next_attempt_at=None))
        kinds = {h[1] for h in held}
        values.update(summary_count=row.summary_count + len(held),
                      summary_since=min(h[2] for h in held),
                      summary_kind=kinds.pop() if len(kinds) == 1 else "alerts")
    s.execute(sa.update(D).where(D.id == row.id).values(**values))
    for name, value in values.items():
        setattr(row, name, value)
    return len(held)


def compose(row: NotificationDelivery, note: Notification) -> tuple[str, str]:
    """(title, body) of the message: the alert, or for a storm summary the count first."""
    if row.summary_count and row.summary_since is not None:
        line = storm_summary(row.summary_count, [row.summary_kind or "alerts"],
                             row.summary_since)
        if row.kind == SUMMARY_KIND:
            return line[0].upper() + line[1:], f"Latest: {note.title}\n{note.body}"[:MAX_BODY]
        return note.title, f"{note.body}\n\n(also {line})"[:MAX_BODY]
    return note.title, note.body


def deliver_one(db: Database, redis: redis_lib.Redis | None, settings: Settings,
                delivery_id: int, send: Sender | None = None) -> str:
    """Claim, gate, send and record one delivery; returns its new status ('stale' when
    another job has it or it is done)."""
    claimed = claim(db, delivery_id, settings)
    if claimed is None:
        return "stale"
    claimed_at = claimed[0]
    with db.session() as s:
        row = s.get(D, delivery_id)
        channel = s.get(NotificationChannel, row.channel_id) if row else None
        note = s.get(Notification, row.notification_id) if row else None
    if row is None or channel is None or note is None:
        return "stale"
    if not channel.enabled:
        return _finish(db, row, claimed_at, channel, {"ok": False,
                                                      "error": "channel disabled"}, settings,
                       final=True)
    if not _pass_gate(db, redis, row, settings):
        return DeliveryStatus.suppressed.value
    title, body = compose(row, note)
    send = send or _default_sender()
    try:
        url = open_url(channel_cipher(settings), channel.url)
    except FatalError as exc:  # wrong keys: this channel fails, the others are sent
        return _finish(db, row, claimed_at, channel, {"ok": False, "error": exc.message},
                       settings)
    try:
        result = send(url, title, body, settings.outbound.policy())
    except Exception as exc:  # a sender bug must not lose the delivery
        log.exception("delivery %s: sender raised", delivery_id)
        result = {"ok": False, "error": f"delivery failed ({type(exc).__name__})"}
    return _finish(db, row, claimed_at, channel, result, settings)


def _finish(db: Database, row: NotificationDelivery, claimed_at: Any,
            channel: NotificationChannel, result: dict, settings: Settings, *,
            final: bool = False) -> str:
    """Record the outcome on the delivery (if still ours) and on the channel."""
    now = utcnow()
    ok = bool(result.get("ok"))
    error = None if ok else str(result.get("error") or "delivery failed")[:500]
    if ok:
        status, values = DeliveryStatus.sent.value, {"sent_at": now, "error": None}
    elif final or row.attempts >= settings.alerts.max_attempts:
        status, values = DeliveryStatus.failed.value, {"error": error}
    else:
        status = DeliveryStatus.pending.value
        values = {"error": error, "next_attempt_at": now + timedelta(
            seconds=retry_delay(settings, row.attempts))}
    with db.session() as s:
        done = s.execute(sa.update(D).where(
            D.id == row.id, D.status == DeliveryStatus.sending.value,
            D.claimed_at == claimed_at).values(status=status, **values)).rowcount
        if not done:
            return "stale"
        ch = {"last_attempt_at": now, "updated_at": now,
              "last_status": "ok" if ok else ("retrying" if status == "pending" else "failed")}
        if ok:
            ch.update(last_success_at=now, last_error=None, failures=0)
        else:
            ch.update(last_error=error, failures=NotificationChannel.failures + 1)
        s.execute(sa.update(NotificationChannel).where(
            NotificationChannel.id == channel.id).values(**ch))
    if not ok:
        log.info("delivery %s to channel %s: %s (%s)", row.id, channel.id, error, status)
    return status
