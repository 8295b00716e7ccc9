"""The ``Broker`` protocol and its vocabulary: order requests, results, positions, accounts.

Every order carries an ``idempotency_key`` (convention: ``f"{execution_id}:{node_id}"``, see
:func:`idempotency_key`): placing an order whose key already exists returns the existing
order instead of trading again, so a retried execution never places the same order twice.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import Enum
from typing import Protocol, runtime_checkable

from agentic_app.domain.errors import InvalidInputError


class OrderSide(str, Enum):
    """Direction of an order."""

    buy = "buy"
    sell = "sell"


class OrderType(str, Enum):
    """How an order is priced."""

    market = "market"
    limit = "limit"


class OrderStatus(str, Enum):
    """Lifecycle of an order: new -> filled | open -> filled | cancelled; or rejected.

    A live order may be ``partially_filled`` (still open, ``filled_quantity`` > 0)."""

    new = "new"
    open = "open"
    partially_filled = "partially_filled"
    filled = "filled"
    cancelled = "cancelled"
    rejected = "rejected"


ALERT_ONLY = "alert_only"
"""Status of an order an alert-only run recorded and sent as an alert instead of placing it
(see :mod:`agentic_app.broker.alert_only`)."""


MAX_KEY_LENGTH = 200
"""Longest accepted idempotency key (the column's length)."""


def idempotency_key(execution_id: int | str, node_id: str) -> str:
    """The conventional idempotency key of the order placed by ``node_id`` in an execution."""
    return f"{execution_id}:{node_id}"


@dataclass(frozen=True)
class OrderRequest:
    """An order to place; ``quantity`` in instrument units/lots, ``limit_price`` for limits.

    ``broker`` is ``"paper"`` (the default) or the id of a supported exchange (``"binance"``)
    for a live order on the user's account there (see ``broker.router``)."""

    user_id: int
    symbol: str
    side: OrderSide | str
    quantity: float
    idempotency_key: str
    order_type: OrderType | str = OrderType.market
    limit_price: float | None = None
    execution_id: int | None = None
    node_id: str | None = None
    broker: str = "paper"

    def validated(self) -> OrderRequest:
        """A copy with enums and floats normalised; InvalidInputError naming the bad field."""
        try:
            side = OrderSide(str(getattr(self.side, "value", self.side)).lower())
        except ValueError:
            raise InvalidInputError(f"side must be buy or sell, got {self.side!r}",
                                    field="side") from None
        try:
            order_type = OrderType(str(getattr(self.order_type, "value", self.order_type)).lower())
        except ValueError:
            raise InvalidInputError(f"order_type must be market or limit, got {self.order_type!r}",
                                    field="order_type") from None
        if isinstance(self.user_id, bool) or not isinstance(self.user_id, int):
            raise InvalidInputError(f"user_id must be an integer, got {self.user_id!r}",
                                    field="user_id")
        if not isinstance(self.idempotency_key, str) or not self.idempotency_key.strip():
            raise InvalidInputError("idempotency_key is required", field="idempotency_key")
        if len(self.idempotency_key) > MAX_KEY_LENGTH:
            raise InvalidInputError(f"idempotency_key longer than {MAX_KEY_LENGTH} characters",
                                    field="idempotency_key")
        quantity = _positive_float(self.quantity, "quantity")
        limit_price = None
        if order_type is OrderType.limit:
            if self.limit_price is None:
                raise InvalidInputError("a limit order needs a limit_price", field="limit_price")
            limit_price = _positive_float(self.limit_price, "limit_price")
        elif self.limit_price is not None:
            raise InvalidInputError("limit_price is only for limit orders", field="limit_price")
        return OrderRequest(
            user_id=self.user_id, symbol=self.symbol, side=side, quantity=quantity,
            idempotency_key=self.idempotency_key, order_type=order_type,
            limit_price=limit_price, execution_id=self.execution_id, node_id=self.node_id,
            broker=self.broker,
        )


def _positive_float(value: object, field_name: str) -> float:
    if isinstance(value, bool):
        raise InvalidInputError(f"{field_name} must be a number", field=field_name)
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInputError(f"{field_name} must be a number, got {value!r}",
                                field=field_name) from None
    if not math.isfinite(result) or result <= 0:
        raise InvalidInputError(f"{field_name} must be greater than 0, got {value!r}",
                                field=field_name)
    return result


@dataclass(frozen=True)
class OrderResult:
    """An order as the broker knows it; ``duplicate`` is True when the key already existed."""

    order_id: int
    idempotency_key: str
    user_id: int
    symbol: str
    side: str
    order_type: str
    quantity: float
    limit_price: float | None
    status: str
    filled_quantity: float
    avg_fill_price: float | None
    fee: float
    created_at: datetime
    filled_at: datetime | None
    execution_id: int | None = None
    node_id: str | None = None
    duplicate: bool = False
    reason: str | None = None

    @property
    def is_filled(self) -> bool:
        """True when the order has been filled."""
        return self.status == OrderStatus.filled.value

    def to_dict(self) -> dict:
        """JSON-friendly form (times as ISO-8601)."""
        out = asdict(self)
        out["created_at"] = self.created_at.isoformat()
        out["filled_at"] = self.filled_at.isoformat() if self.filled_at else None
        return out


@dataclass(frozen=True)
class Position:
    """A net position: signed quantity (short < 0), average entry price, P&L and mark."""

    symbol: str
    quantity: float
    avg_price: float
    realized_pnl: float
    mark_price: float | None = None
    market_value: float = 0.0
    unrealized_pnl: float = 0.0

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        return asdict(self)


@dataclass(frozen=True)
class AccountSnapshot:
    """Account value at ``at``: equity = cash + sum of positions marked to market."""

    user_id: int
    equity: float
    cash: float
    unrealized_pnl: float
    realized_pnl: float
    starting_cash: float
    currency: str
    at: datetime
    positions: list[Position] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-friendly form."""
        out = asdict(self)
        out["at"] = self.at.isoformat()
        return out


@runtime_checkable
class Broker(Protocol):
    """What the order nodes need from a broker (the paper broker is the default)."""

    def place_order(self, order: OrderRequest) -> OrderResult:
        """Place ``order`` once per idempotency key; InvalidInputError for a bad order."""
        ...

    def get_order(self, idempotency_key: str) -> OrderResult | None:
        """The order placed with ``idempotency_key``, or None."""
        ...

    def positions(self, user_id: int) -> list[Position]:
        """The user's open (non-zero) positions, marked to market."""
        ...

    def account(self, user_id: int) -> AccountSnapshot:
        """The user's cash, equity, P&L and positions."""
        ...
