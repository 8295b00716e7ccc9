"""Alerts (``app.alerts``): emit an alert to a user, the in-app inbox (list, unread count,
mark read) with its live unread count, and the user's channels (``app.alerts.channels``).

``emit`` is the one entry point for every producer above the engine (portfolio, brokers,
market-data checks): it writes the inbox row and one delivery per channel whose rule
selects the kind, in one transaction, then queues the deliveries (RQ) and nudges the user's
open bells. The engine's own producers (final failure, auto-pause, missed runs, config
errors, daily limit) use :mod:`agentic_app.engine.alerts.hooks` inside their transactions.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select

from agentic_app.db.alert_models import NotificationChannel, NotificationDelivery
from agentic_app.db.trading_models import Notification
from agentic_app.domain.alerts import ALERT_KINDS, MAX_BODY, MAX_SUBJECT
from agentic_app.domain.errors import InvalidInputError, NotFoundError
from agentic_app.engine.alerts.emit import emit_alert, publish_inbox
from agentic_app.engine.alerts.keys import inbox_channel
from agentic_app.services.alert_channels import ChannelService
from agentic_app.services.base import Actor, Service

log = logging.getLogger(__name__)

RESUBSCRIBE_DELAY_S = 1.0
"""Pause before a live unread-count watch subscribes again after losing Redis."""


def notification_view(row: Notification, deliveries: list[dict[str, Any]] | None = None,
                      ) -> dict[str, Any]:
    """What a user sees of one inbox entry, with the outcome per channel."""
    return {"id": row.id, "kind": row.kind, "title": row.title, "body": row.body,
            "level": row.level, "read": row.read, "created_at": row.created_at,
            "execution_id": row.execution_id, "scheduled_job_id": row.scheduled_job_id,
            "refs": row.refs or {}, "deliveries": deliveries or []}


class AlertService(Service):
    """Emit alerts; the acting user's inbox; ``channels``: their notification channels."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.channels = ChannelService(app)

    # -- emit -------------------------------------------------------------------------------

    def emit(self, user: Actor | int, kind: str, subject: str, body: str = "",
             refs: dict[str, Any] | None = None, *, scheduled_job_id: int | None = None,
             execution_id: int | None = None, level: str | None = None) -> int:
        """Alert ``user`` (an Actor or a user id): inbox row + queued deliveries to the
        channels routing ``kind`` (``domain.alerts.ALERT_KINDS``, e.g. "order_filled",
        "order_rejected", "data_stale"); returns the inbox row's id. Subject and body are cut
        to their maximum length; ``refs`` (ids such as order_id, execution_id) is shown as
        links. InvalidInputError for an unknown kind."""
        user_id = user.id if isinstance(user, Actor) else int(user)
        if kind not in ALERT_KINDS:
            raise InvalidInputError(f"unknown alert kind {kind!r}", field="kind")
        alert = emit_alert(self.db, self._app.redis_or_none(), user_id=user_id, kind=kind,
                           subject=str(subject)[:MAX_SUBJECT], body=str(body)[:MAX_BODY],
                           refs=refs, scheduled_job_id=scheduled_job_id,
                           execution_id=execution_id, level=level, settings=self.settings)
        return alert.notification_id

    # -- inbox ------------------------------------------------------------------------------

    def inbox(self, actor: Actor, *, unread_only: bool = False, offset: int = 0,
              limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """The user's inbox, newest first, and the total matching."""
        where = [Notification.user_id == actor.id]
        if unread_only:
            where.append(Notification.read == False)  # noqa: E712 (SQL comparison)
        with self.db.session() as s:
            total = s.exec(select(func.count()).select_from(Notification).where(*where)).one()
            rows = s.exec(select(Notification).where(*where)
                          .order_by(col(Notification.id).desc())
                          .offset(offset).limit(limit)).all()
            outcomes = self._deliveries(s, [r.id for r in rows])
            return [notification_view(r, outcomes.get(r.id)) for r in rows], int(total)

    @staticmethod
    def _deliveries(s: Any, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        if not ids:
            return {}
        rows = s.exec(select(NotificationDelivery, NotificationChannel.name).join(
            NotificationChannel, NotificationChannel.id == NotificationDelivery.channel_id)
            .where(col(NotificationDelivery.notification_id).in_(ids))
            .order_by(NotificationDelivery.id)).all()
        out: dict[int, list[dict[str, Any]]] = {}
        for d, name in rows:
            out.setdefault(d.notification_id, []).append({
                "channel_id": d.channel_id, "channel": name, "status": d.status,
                "attempts": d.attempts, "error": d.error, "sent_at": d.sent_at})
        return out

    def unread_count(self, actor: Actor) -> int:
        """How many of the user's inbox entries are unread."""
        with self.db.session() as s:
            return int(s.exec(select(func.count()).select_from(Notification).where(
                Notification.user_id == actor.id,
                Notification.read == False)).one())  # noqa: E712

    def mark_read(self, actor: Actor, notification_id: int) -> dict[str, Any]:
        """Mark one entry read (idempotent); NotFoundError when it is not the user's."""
        with self.db.session() as s:
            row = s.get(Notification, notification_id)
            if row is None or row.user_id != actor.id:
                raise NotFoundError(f"notification {notification_id} not found",
                                    field="notification_id")
            changed = not row.read
            row.read = True
            s.add(row)
            s.flush()
            view = notification_view(row, self._deliveries(s, [row.id]).get(row.id))
        if changed:
            self._nudge(actor.id)
        return view

    def mark_all_read(self, actor: Actor) -> int:
        """Mark every unread entry of the user read; how many were."""
        with self.db.session() as s:
            count = s.execute(sa.update(Notification).where(
                Notification.user_id == actor.id,
                Notification.read == False).values(read=True)).rowcount  # noqa: E712
        if count:
            self._nudge(actor.id)
        return int(count)

    def _nudge(self, user_id: int) -> None:
        redis = self._app.redis_or_none()
        if redis is None:
            return
        try:
            publish_inbox(redis, user_id)
        except Exception as exc:  # a bell that misses one nudge re-reads on the next
            log.info("inbox nudge for user %s failed: %s", user_id, exc)

    async def watch_unread(self, actor: Actor) -> AsyncIterator[int]:
        """The user's unread count now, then again each time their inbox changes (pushed
        over the loop's shared pub/sub connection; no polling). Never ends by itself; after
        a lost connection it subscribes again and re-reads the count."""
        while True:
            url = await asyncio.to_thread(self._app.redis_url)
            sub = None
            try:
                if url is not None:
                    sub = await self._app.live_hub(url).subscribe(inbox_channel(actor.id))
                yield await asyncio.to_thread(self.unread_count, actor)
                while sub is not None:
                    message = await sub.get(timeout=30.0)
                    if message is None:
                        continue
                    if _is_inbox(message):
                        yield await asyncio.to_thread(self.unread_count, actor)
            except ConnectionError:
                pass
            except OSError as exc:
                log.info("inbox watch of user %s: %s", actor.id, exc)
            finally:
                if sub is not None:
                    await sub.close()
            await asyncio.sleep(RESUBSCRIBE_DELAY_S if url is not None else 30.0)


def _is_inbox(message: dict[str, Any]) -> bool:
    try:
        return json.loads(message.get("data") or b"{}").get("type") == "inbox"
    except (TypeError, ValueError):
        return False
