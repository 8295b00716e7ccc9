"""SQLModel tables of trading: paper broker accounts, orders, fills, positions; notifications.

Same conventions as :mod:`agentic_app.db.models`: aware-UTC timestamps, string enum values
(see :mod:`agentic_app.broker.base` for the order vocabulary), JSON/JSONB via ``json_column``.
``execution_id`` columns are indexed but carry no foreign key: orders and notifications
outlive the executions that created them (and orders may be placed outside any execution).
Amounts are floats: this is paper trading, sized in lots rounded by ``domain.sizing``.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from agentic_app.db.models import json_column, utcnow


class NotificationLevel(str, Enum):
    """Severity of an in-app notification."""

    info = "info"
    warning = "warning"
    error = "error"


class PaperAccount(SQLModel, table=True):
    """A user's paper trading account (created on first use with ``starting_cash``)."""

    __tablename__ = "paper_accounts"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", sa_column_kwargs={"unique": True}, index=True)
    currency: str = Field(default="USD", max_length=8)
    starting_cash: float
    cash: float
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PaperOrder(SQLModel, table=True):
    """An order sent to the paper broker; ``idempotency_key`` is unique across all orders."""

    __tablename__ = "paper_orders"
    __table_args__ = (sa.Index("ix_paper_orders_user_status", "user_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")  # indexed by ix_paper_orders_user_status
    symbol: str = Field(max_length=32)
    side: str = Field(max_length=4)
    order_type: str = Field(default="market", max_length=8)
    quantity: float
    limit_price: float | None = None
    status: str = Field(default="new", max_length=16, index=True)
    idempotency_key: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    execution_id: int | None = Field(default=None, index=True)
    node_id: str | None = Field(default=None, max_length=100)
    filled_quantity: float = 0.0
    avg_fill_price: float | None = None
    fee: float = 0.0
    reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    filled_at: datetime | None = None


class PaperFill(SQLModel, table=True):
    """One execution of (part of) an order at a price, with its fee."""

    __tablename__ = "paper_fills"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="paper_orders.id", index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    symbol: str = Field(max_length=32)
    side: str = Field(max_length=4)
    price: float
    quantity: float
    fee: float = 0.0
    ts: datetime = Field(default_factory=utcnow)


class PaperPosition(SQLModel, table=True):
    """A user's net position in one symbol: signed quantity, average price, realized P&L."""

    __tablename__ = "paper_positions"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "symbol", name="uq_paper_positions_user_symbol"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")  # indexed by uq_paper_positions_user_symbol
    symbol: str = Field(max_length=32)
    quantity: float = 0.0
    avg_price: float = 0.0
    realized_pnl: float = 0.0
    updated_at: datetime = Field(default_factory=utcnow)


class Notification(SQLModel, table=True):
    """An in-app notification for a user, optionally from a node of an execution.

    ``delivered_to`` lists the apprise deliveries tried, one dict each, e.g.
    ``{"schema": "mailto", "ok": false, "error": "connection refused"}`` (never full URLs:
    they may hold secrets).
    """

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_read", "user_id", "read"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")  # indexed by ix_notifications_user_read
    execution_id: int | None = Field(default=None, index=True)
    node_id: str | None = Field(default=None, max_length=100)
    title: str = Field(max_length=200)
    body: str = Field(default="", sa_type=sa.Text)
    level: str = Field(default=NotificationLevel.info.value, max_length=8)
    read: bool = Field(default=False)
    delivered_to: list = Field(default_factory=list, sa_column=json_column())
    created_at: datetime = Field(default_factory=utcnow, index=True)
    # added by alerts (step 4): the alert kind (``domain.alerts.ALERT_KINDS``; "node" for a
    # notification node's row), the schedule it concerns and links (execution, order ...)
    kind: str = Field(default="node", max_length=32, sa_column_kwargs={"server_default": "node"})
    scheduled_job_id: int | None = Field(default=None, index=True)
    refs: dict | None = Field(default=None, sa_column=json_column())


class AlertOrder(SQLModel, table=True):
    """An order an alert-only run would have placed: recorded and sent as an alert, never
    traded. ``idempotency_key`` is unique like a paper order's: a retried run alerts once."""

    __tablename__ = "alert_orders"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    execution_id: int | None = Field(default=None, index=True)
    node_id: str | None = Field(default=None, max_length=100)
    idempotency_key: str = Field(max_length=200, sa_column_kwargs={"unique": True})
    symbol: str = Field(max_length=32)
    side: str = Field(max_length=4)
    order_type: str = Field(default="market", max_length=8)
    quantity: float
    limit_price: float | None = None
    quote_price: float | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
