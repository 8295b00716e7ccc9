"""SQLModel tables of live trading: exchange credentials, live orders, limits, the kill switch.

Same conventions as :mod:`agentic_app.db.models` (aware-UTC timestamps, string enum values
from :mod:`agentic_app.broker.base`). Credentials are stored encrypted (Fernet, see
:mod:`agentic_app.broker.credentials`); only ``key_hint`` (the last characters of the API
key) is ever shown. ``live_orders.credential_id`` has no foreign key: orders outlive the
credential that placed them.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from agentic_app.db.models import json_column, utcnow


class ExchangeCredential(SQLModel, table=True):
    """A user's API key and secret for one exchange, encrypted at rest (one per exchange)."""

    __tablename__ = "exchange_credentials"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "exchange", name="uq_exchange_credentials_user_exchange"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")  # indexed by the unique constraint
    exchange: str = Field(max_length=32)
    label: str = Field(default="", max_length=100)
    sandbox: bool = True
    api_key_enc: str = Field(sa_type=sa.Text)
    secret_enc: str = Field(sa_type=sa.Text)
    key_hint: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)


class LiveOrder(SQLModel, table=True):
    """An order for a real exchange: claimed here before it is sent, then kept in step.

    ``idempotency_key`` and ``client_order_id`` (derived from it, sent to the exchange) are
    unique: a retried execution finds its row and asks the exchange by client id instead of
    sending again. ``status`` ``new`` means "claimed, outcome not known yet"; while
    ``claimed_until`` lies in the future one process is sending it. A refused order (safety
    limit, kill switch, exchange rejection) is kept with status ``rejected`` and ``reason``.
    """

    __tablename__ = "live_orders"
    __table_args__ = (sa.Index("ix_live_orders_user_status", "user_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")  # indexed by ix_live_orders_user_status
    credential_id: int | None = Field(default=None, index=True)
    exchange: str = Field(max_length=32)
    sandbox: bool = True
    symbol: str = Field(max_length=32)
    side: str = Field(max_length=4)
    order_type: str = Field(default="market", max_length=8)
    quantity: float
    limit_price: float | None = None
    notional: float | None = None
    status: str = Field(default="new", max_length=16)
    idempotency_key: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    client_order_id: str = Field(max_length=40, sa_column_kwargs={"unique": True})
    exchange_order_id: str | None = Field(default=None, max_length=64)
    execution_id: int | None = Field(default=None, index=True)
    node_id: str | None = Field(default=None, max_length=100)
    filled_quantity: float = 0.0
    avg_fill_price: float | None = None
    fee: float = 0.0
    reason: str | None = Field(default=None, max_length=500)
    claimed_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    filled_at: datetime | None = None


class TradingLimitOverride(SQLModel, table=True):
    """A user's own safety limits; a None column falls back to the settings default."""

    __tablename__ = "trading_limits"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    max_order_notional: float | None = None
    max_orders_per_day: int | None = None
    max_turnover_per_day: float | None = None
    max_daily_loss: float | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class TradingHalt(SQLModel, table=True):
    """The kill switch of a user: while ``engaged``, no run starts and no order is placed.

    ``report`` records what engaging it did (schedules paused, orders cancelled, errors).
    """

    __tablename__ = "trading_halts"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    engaged: bool = False
    reason: str = Field(default="", max_length=500)
    engaged_at: datetime | None = None
    rearmed_at: datetime | None = None
    report: dict = Field(default_factory=dict, sa_column=json_column())
