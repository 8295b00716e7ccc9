"""Webhook triggers: fire on an authenticated POST (token and secret are made server-side)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agentic_app.domain.triggers.base import MAX_WEBHOOK_BODY_BYTES, TriggerBase


class WebhookTriggerConfig(TriggerBase):
    """Fires on an authenticated POST; token and secret are generated server-side."""

    type: Literal["webhook"] = "webhook"
    mode: Literal["hmac", "shared_secret"] = "hmac"
    max_body_bytes: int = Field(65536, ge=1, le=MAX_WEBHOOK_BODY_BYTES)

    def describe(self) -> str:
        """'On signed webhook' / 'On shared-secret webhook'."""
        return "On signed webhook" if self.mode == "hmac" else "On shared-secret webhook"
