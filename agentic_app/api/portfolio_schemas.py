"""Response and request models of the portfolio and alert-only routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from agentic_app.api.schemas import Public


class PositionPublic(Public):
    """One symbol's position and P&L (average cost)."""

    symbol: str
    quantity: float = Field(description="signed: short < 0")
    avg_price: float
    realized_pnl: float = Field(description="gross, before fees")
    fees: float
    net_realized_pnl: float
    mark_price: float | None = Field(description="null when the feed cannot price it")
    market_value: float
    unrealized_pnl: float
    contract_size: float


class AccountSummary(Public):
    """An account: cash, equity, P&L, fees and positions at ``at`` (the feed's time)."""

    account: str
    currency: str
    at: datetime
    starting_cash: float
    cash: float
    equity: float
    realized_pnl: float = Field(description="gross realized P&L, before fees")
    fees: float
    net_realized_pnl: float
    unrealized_pnl: float
    total_pnl: float = Field(description="equity - starting cash")
    positions: list[PositionPublic]
    closed_positions: list[PositionPublic]
    unpriced: list[str] = Field(description="open symbols the feed could not price now")
    fill_count: int
    truncated: bool = Field(False, description="more fills than the replay limit: only the "
                            "newest were replayed from starting cash, so the figures are "
                            "not the account's true P&L")
    open_orders: int


class FillPublic(Public):
    """One fill of an order."""

    id: int
    order_id: int
    symbol: str
    side: str
    price: float
    quantity: float
    fee: float
    ts: datetime


class _OrderFields(Public):
    """What every order row says: the order, and the execution, schedule and workflow that
    made it."""

    id: int
    symbol: str
    side: str
    order_type: str
    quantity: float
    limit_price: float | None
    idempotency_key: str
    execution_id: int | None
    node_id: str | None
    scheduled_job_id: int | None
    workflow_id: int | None
    created_at: datetime


class OrderPublic(_OrderFields):
    """An order with its fills, the execution that placed it and that execution's schedule."""

    status: str
    filled_quantity: float
    avg_fill_price: float | None
    fee: float
    filled_at: datetime | None
    fills: list[FillPublic]


class AlertOrderPublic(_OrderFields):
    """An order an alert-only run would have placed (sent as an alert, never traded)."""

    quote_price: float | None


class EquityPoint(Public):
    """The account at one time."""

    ts: datetime
    equity: float
    cash: float
    realized_pnl: float
    unrealized_pnl: float
    fees: float


class EquityCurve(Public):
    """Equity over time, from the first fill to now."""

    account: str
    currency: str
    starting_cash: float
    truncated: bool = Field(False, description="only the newest fills were replayed")
    points: list[EquityPoint]


class ExecutionOrders(Public):
    """What one execution placed (and, alert-only, what it would have placed)."""

    execution_id: int
    scheduled_job_id: int | None
    workflow_id: int
    alert_only: bool
    orders: list[OrderPublic]
    alert_orders: list[AlertOrderPublic]


class AlertOnlyUpdate(BaseModel):
    """Switch alert-only mode on or off."""

    model_config = ConfigDict(extra="forbid")

    alert_only: bool = Field(description="true: order nodes send alerts instead of trading",
                             strict=True)
