"""Notification routes: the in-app inbox (list, unread count, mark read) and the user's
notification channels (CRUD, send test). Every route acts for the bearer token's user;
another user's entry or channel is a 404. Channel URLs are never returned (masked only).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from agentic_app.api.alert_schemas import (
    AlertKindPublic,
    ChannelCreate,
    ChannelPublic,
    ChannelTestResult,
    ChannelUpdate,
    MarkedRead,
    NotificationPublic,
    UnreadCount,
)
from agentic_app.api.deps import AppDep, CurrentUser, IdPath, PageDep
from agentic_app.api.errors import COMMON_ERRORS
from agentic_app.api.schemas import Page
from agentic_app.domain.alerts import ALERT_KINDS, RULE_KINDS

router = APIRouter(prefix="/notifications", tags=["notifications"], responses=COMMON_ERRORS)


@router.get("", response_model=Page[NotificationPublic])
def inbox(user: CurrentUser, app: AppDep, page: PageDep,
          unread: Annotated[bool, Query(description="unread entries only")] = False,
          ) -> Page[NotificationPublic]:
    """The user's inbox, newest first, with each entry's delivery outcome per channel."""
    items, total = app.alerts.inbox(user, unread_only=unread, offset=page.offset,
                                    limit=page.limit)
    return Page[NotificationPublic](items=[NotificationPublic.model_validate(i) for i in items],
                                    total=total, offset=page.offset, limit=page.limit)


@router.get("/unread-count", response_model=UnreadCount)
def unread_count(user: CurrentUser, app: AppDep) -> UnreadCount:
    """How many of the user's inbox entries are unread (what the bell shows)."""
    return UnreadCount(unread=app.alerts.unread_count(user))


@router.post("/read-all", response_model=MarkedRead)
def read_all(user: CurrentUser, app: AppDep) -> MarkedRead:
    """Mark every unread entry read."""
    return MarkedRead(marked=app.alerts.mark_all_read(user))


@router.post("/{notification_id}/read", response_model=NotificationPublic)
def read(notification_id: IdPath, user: CurrentUser, app: AppDep) -> NotificationPublic:
    """Mark one entry read (idempotent)."""
    return NotificationPublic.model_validate(app.alerts.mark_read(user, notification_id))


@router.get("/kinds", response_model=list[AlertKindPublic])
def kinds(user: CurrentUser) -> list[AlertKindPublic]:
    """The alert kinds a channel can route."""
    return [AlertKindPublic(name=k, label=ALERT_KINDS[k].label) for k in RULE_KINDS]


@router.get("/channels", response_model=list[ChannelPublic])
def list_channels(user: CurrentUser, app: AppDep) -> list[ChannelPublic]:
    """The user's channels (URLs masked)."""
    return [ChannelPublic.model_validate(c) for c in app.alerts.channels.list(user)]


@router.post("/channels", response_model=ChannelPublic, status_code=201)
def create_channel(body: ChannelCreate, user: CurrentUser, app: AppDep) -> ChannelPublic:
    """Add a channel; the URL must pass the outbound policy (scheme allowlist, public hosts;
    422 naming ``url`` otherwise)."""
    return ChannelPublic.model_validate(app.alerts.channels.create(
        user, name=body.name, url=body.url, kinds=body.kinds, enabled=body.enabled))


@router.get("/channels/{channel_id}", response_model=ChannelPublic)
def get_channel(channel_id: IdPath, user: CurrentUser, app: AppDep) -> ChannelPublic:
    """One channel (URL masked)."""
    return ChannelPublic.model_validate(app.alerts.channels.get(user, channel_id))


@router.patch("/channels/{channel_id}", response_model=ChannelPublic)
def update_channel(channel_id: IdPath, body: ChannelUpdate, user: CurrentUser,
                   app: AppDep) -> ChannelPublic:
    """Change a channel's name, URL, routed kinds or enabled flag."""
    fields = body.model_dump(exclude_unset=True, exclude_none=True)
    return ChannelPublic.model_validate(app.alerts.channels.update(user, channel_id, **fields))


@router.delete("/channels/{channel_id}", status_code=204, response_class=Response)
def delete_channel(channel_id: IdPath, user: CurrentUser, app: AppDep) -> Response:
    """Delete a channel (its pending deliveries are dropped)."""
    app.alerts.channels.delete(user, channel_id)
    return Response(status_code=204)


@router.post("/channels/{channel_id}/test", response_model=ChannelTestResult)
def test_channel(channel_id: IdPath, user: CurrentUser, app: AppDep) -> ChannelTestResult:
    """Send a test message now; the outcome is returned and recorded on the channel."""
    return ChannelTestResult.model_validate(app.alerts.channels.test(user, channel_id))
