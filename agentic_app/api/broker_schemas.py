"""Request and response models of the live-trading routes (``/broker``).

No response model has a field for an API key or secret: a credential is shown as its
exchange, label, sandbox flag, masked key (``key_hint``) and creation date.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentic_app.api.schemas import Public, Text
from agentic_app.domain.live_trading import MAX_LABEL_LENGTH, MAX_SECRET_LENGTH, MIN_SECRET_LENGTH

LiveOrderStatus = Literal["new", "open", "partially_filled", "filled", "cancelled", "rejected"]
"""Statuses of a live order."""


class ExchangePublic(Public):
    """An exchange live orders may go to."""

    id: str
    quote: str = Field(description="currency the limits and equity are counted in")
    mainnet_allowed: bool = Field(description="whether non-sandbox credentials are accepted")


class CredentialCreate(BaseModel):
    """An exchange API key and secret, stored encrypted; never shown again."""

    exchange: Text = Field(min_length=1, max_length=32)
    api_key: Text = Field(min_length=MIN_SECRET_LENGTH, max_length=MAX_SECRET_LENGTH)
    secret: Text = Field(min_length=MIN_SECRET_LENGTH, max_length=MAX_SECRET_LENGTH)
    label: Text = Field("", max_length=MAX_LABEL_LENGTH)
    sandbox: bool = Field(True, description="the exchange's sandbox/testnet")


class CredentialPublic(Public):
    """A stored credential, masked."""

    id: int
    exchange: str
    label: str
    sandbox: bool
    key_hint: str = Field(description="the key's last four characters")
    created_at: datetime


class LiveOrderPublic(Public):
    """A live order; ``reason`` says why a refused or rejected order did not trade."""

    id: int
    exchange: str
    sandbox: bool
    symbol: str
    side: str
    order_type: str
    quantity: float
    limit_price: float | None
    notional: float | None
    status: str
    filled_quantity: float
    avg_fill_price: float | None
    fee: float
    reason: str | None
    execution_id: int | None
    node_id: str | None
    client_order_id: str
    created_at: datetime
    updated_at: datetime
    filled_at: datetime | None


class AccountPublic(Public):
    """Balances and equity of the user's exchange account (asked from the exchange)."""

    exchange: str
    sandbox: bool
    currency: str
    equity: float
    cash: float
    balances: dict[str, dict[str, float]]
    positions: list[dict[str, Any]]


class Limits(Public):
    """The four safety limits (amounts in the exchange's quote currency)."""

    max_order_notional: float | None = Field(None, gt=0)
    max_orders_per_day: int | None = Field(None, ge=1)
    max_turnover_per_day: float | None = Field(None, gt=0)
    max_daily_loss: float | None = Field(None, gt=0)


class LimitsUpdate(Limits):
    """Overrides to set (null clears one); each may only tighten the default."""


class DayCounters(Public):
    """Today's (UTC) live orders, turnover and the equity the day's loss is measured from."""

    orders: int
    turnover: float
    starting_equity: float | None


class LimitsPublic(Public):
    """Defaults (the ceilings), the user's overrides, the limits in force, today's counters."""

    defaults: Limits
    overrides: Limits
    effective: Limits
    today: DayCounters | None


class KillSwitchEngage(BaseModel):
    """Why the kill switch is engaged (optional)."""

    reason: Text = Field("", max_length=500)


class KillSwitchPublic(Public):
    """The kill switch; ``report`` says what engaging it paused and cancelled."""

    engaged: bool
    reason: str
    engaged_at: datetime | None
    rearmed_at: datetime | None
    report: dict[str, Any]
