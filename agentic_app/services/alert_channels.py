"""Notification channels of a user (``app.alerts.channels``): apprise URLs checked against the
outbound policy when saved (scheme allowlist, host rules, DNS) and again at every send, the
alert kinds routed to each, and a "send test" action. A channel's URL is a secret: it is
stored encrypted (``db.channel_urls``) and every view shows it masked
(``domain.alerts.mask_url`` of the decrypted URL), never in full."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select

from agentic_app.db.alert_models import NotificationChannel, NotificationDelivery
from agentic_app.db.channel_urls import (
    channel_cipher,
    open_url,
    open_url_or_none,
    rotate_channel_urls,
    seal_url,
)
from agentic_app.db.cipher import CredentialCipher
from agentic_app.db.locks import lock_writes
from agentic_app.db.models import utcnow
from agentic_app.domain.alerts import (
    MAX_CHANNEL_NAME,
    MAX_CHANNEL_URL,
    RULE_KINDS,
    check_kinds,
    mask_url,
)
from agentic_app.domain.errors import (
    FatalError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
)
from agentic_app.domain.outbound import TargetRefusedError
from agentic_app.services.base import Actor, Service

_UNSET: Any = object()
CHANNELS_LOCK_KEY = 0x6167434E
"""Advisory lock class of a user's channel count check + insert (``db.locks``)."""


UNREADABLE_URL = "(cannot be decrypted: check BROKER__CREDENTIAL_KEYS)"
"""``url_masked`` of a channel whose stored URL no configured key opens."""


def channel_view(row: NotificationChannel, cipher: CredentialCipher) -> dict[str, Any]:
    """What a user sees of a channel: everything but the URL, which is masked."""
    url = open_url_or_none(cipher, row.url)
    return {"id": row.id, "name": row.name,
            "url_masked": UNREADABLE_URL if url is None else mask_url(url),
            "enabled": row.enabled, "kinds": list(row.kinds or []),
            "last_status": row.last_status, "last_error": row.last_error,
            "last_attempt_at": row.last_attempt_at, "last_success_at": row.last_success_at,
            "failures": row.failures, "created_at": row.created_at,
            "updated_at": row.updated_at}


class ChannelService(Service):
    """CRUD and test of the acting user's channels (another user's: NotFoundError)."""

    @property
    def cipher(self) -> CredentialCipher:
        """The cipher of stored channel URLs (``db.channel_urls.channel_cipher``)."""
        return channel_cipher(self.settings)

    def _view(self, row: NotificationChannel) -> dict[str, Any]:
        return channel_view(row, self.cipher)

    def _check_name(self, name: str) -> str:
        name = (name or "").strip()
        if not name or len(name) > MAX_CHANNEL_NAME or "\x00" in name:
            raise InvalidInputError(f"name must be 1 to {MAX_CHANNEL_NAME} characters",
                                    field="name")
        return name

    def _check_url(self, url: str) -> str:
        from agentic_app.engine.executor.outbound import check_target

        url = (url or "").strip()
        if not url or len(url) > MAX_CHANNEL_URL or "\x00" in url:
            raise InvalidInputError(f"url must be 1 to {MAX_CHANNEL_URL} characters",
                                    field="url")
        try:
            check_target(url, self.settings.outbound.policy())
        except TargetRefusedError as exc:
            raise InvalidInputError(str(exc), field="url") from None
        return url

    def _check_kinds(self, kinds: list[str] | None) -> list[str]:
        if kinds is None:
            return list(RULE_KINDS)
        try:
            return check_kinds(list(kinds))
        except ValueError as exc:
            raise InvalidInputError(str(exc), field="kinds") from None

    def _own(self, s: Any, actor: Actor, channel_id: int) -> NotificationChannel:
        row = s.get(NotificationChannel, channel_id)
        if row is None or row.user_id != actor.id:
            raise NotFoundError(f"channel {channel_id} not found", field="channel_id")
        return row

    def list(self, actor: Actor) -> list[dict[str, Any]]:
        """The user's channels, oldest first."""
        with self.db.session() as s:
            rows = s.exec(select(NotificationChannel).where(
                NotificationChannel.user_id == actor.id).order_by(NotificationChannel.id)).all()
            return [self._view(r) for r in rows]

    def get(self, actor: Actor, channel_id: int) -> dict[str, Any]:
        """One of the user's channels."""
        with self.db.session() as s:
            return self._view(self._own(s, actor, channel_id))

    def create(self, actor: Actor, *, name: str, url: str, kinds: list[str] | None = None,
               enabled: bool = True) -> dict[str, Any]:
        """A new channel (all alert kinds unless ``kinds`` says otherwise). InvalidInputError
        naming the field; LimitExceededError past ``ALERTS__MAX_CHANNELS_PER_USER``."""
        name, url, kinds = self._check_name(name), self._check_url(url), self._check_kinds(kinds)
        cap = self.settings.alerts.max_channels_per_user
        with self.db.session() as s:
            lock_writes(s, CHANNELS_LOCK_KEY, actor.id)  # count + insert exact per user
            count = s.exec(select(func.count()).select_from(NotificationChannel).where(
                NotificationChannel.user_id == actor.id)).one()
            if count >= cap:
                raise LimitExceededError(
                    f"you have {cap} channels, the limit (ALERTS__MAX_CHANNELS_PER_USER)",
                    limit="max_channels_per_user")
            row = NotificationChannel(user_id=actor.id, name=name,
                                      url=seal_url(self.cipher, url), kinds=kinds,
                                      enabled=bool(enabled))
            s.add(row)
            s.flush()
            return self._view(row)

    def update(self, actor: Actor, channel_id: int, *, name: str = _UNSET, url: str = _UNSET,
               kinds: list[str] = _UNSET, enabled: bool = _UNSET) -> dict[str, Any]:
        """Change the given fields (all checked before anything is written)."""
        values: dict[str, Any] = {}
        if name is not _UNSET:
            values["name"] = self._check_name(name)
        if url is not _UNSET:
            values["url"] = seal_url(self.cipher, self._check_url(url))
        if kinds is not _UNSET:
            values["kinds"] = self._check_kinds(kinds)
        if enabled is not _UNSET:
            values["enabled"] = bool(enabled)
        with self.db.session() as s:
            row = self._own(s, actor, channel_id)
            for key, value in values.items():
                setattr(row, key, value)
            if "url" in values:  # a new target: the old one's failures say nothing of it
                row.last_status, row.last_error, row.failures = None, None, 0
            row.updated_at = utcnow()
            s.add(row)
            s.flush()
            return self._view(row)

    def delete(self, actor: Actor, channel_id: int) -> None:
        """Delete the channel and its delivery records (pending ones are not sent)."""
        with self.db.session() as s:
            row = self._own(s, actor, channel_id)
            s.execute(sa.delete(NotificationDelivery).where(
                col(NotificationDelivery.channel_id) == row.id))
            s.delete(row)

    def test(self, actor: Actor, channel_id: int) -> dict[str, Any]:
        """Send a test message now (blocking, bounded by apprise's timeouts); the outcome is
        recorded on the channel and returned: ``{"ok", "error"?, "channel"}``."""
        from agentic_app.engine.executor.notifier import deliver

        with self.db.session() as s:
            stored = self._own(s, actor, channel_id).url
        try:
            url = open_url(self.cipher, stored)
        except FatalError as exc:
            result: dict[str, Any] = {"ok": False, "error": exc.message}
        else:
            result = deliver(url, "agentic_app test message",
                             "This channel receives your agentic_app alerts.",
                             self.settings.outbound.policy())
        now = utcnow()
        with self.db.session() as s:
            row = self._own(s, actor, channel_id)
            row.last_attempt_at, row.updated_at = now, now
            if result.get("ok"):
                row.last_status, row.last_error, row.last_success_at = "ok", None, now
                row.failures = 0
            else:
                row.last_status = "failed"
                row.last_error = str(result.get("error") or "delivery failed")[:500]
                row.failures += 1
            s.add(row)
            s.flush()
            view = self._view(row)
        return {"ok": bool(result.get("ok")), "error": result.get("error"), "channel": view}

    def rotate_urls(self) -> int:
        """Re-encrypt every user's channel URL with the first configured key (the operator's
        CLI ``rotate-credentials``); how many were rewritten."""
        return rotate_channel_urls(self.db, self.cipher)
