"""Webhook triggers: fire on an authenticated POST (token and secret are made server-side)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from agentic_app.domain.triggers.base import MAX_WEBHOOK_BODY_BYTES, TriggerBase


class WebhookTriggerConfig(TriggerBase):
    """Fires on an authenticated POST; token and secret are generated server-side."""

    type: Literal["webhook"] = "webhook"
    mode: Literal["hmac", "shared_secret", "tradingview"] = "hmac"
    max_body_bytes: int = Field(65536, ge=1, le=MAX_WEBHOOK_BODY_BYTES)
    senders: Literal["any", "tradingview"] = Field(
        "any", description="tradingview mode: accept only TradingView's published sender "
        "addresses (setting WEBHOOKS__TRADINGVIEW_SENDERS)")

    @model_validator(mode="after")
    def _senders_need_tradingview(self) -> WebhookTriggerConfig:
        if self.senders == "tradingview" and self.mode != "tradingview":
            raise ValueError("senders='tradingview' needs mode 'tradingview'")
        return self

    def describe(self) -> str:
        """'On signed webhook' / 'On shared-secret webhook' / 'On TradingView alert'."""
        return {"hmac": "On signed webhook", "shared_secret": "On shared-secret webhook",
                "tradingview": "On TradingView alert"}[self.mode]
