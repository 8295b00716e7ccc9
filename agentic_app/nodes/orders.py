"""Order nodes: market and limit orders on the broker, idempotent per (execution, node).

Quantity comes from the ``quantity`` param or, when absent, from the upstream
``position_size`` output. A zero quantity places nothing. The idempotency key
``<execution_id>:<node_id>`` makes a retried execution reuse the order it placed before.
In an alert-only run the broker records the order and sends it as an alert instead
(``broker/alert_only.py``): the node returns ``placed: false, alert_only: true`` and the
would-be order.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from agentic_app.broker.base import ALERT_ONLY, OrderRequest
from agentic_app.broker.exchanges import SUPPORTED
from agentic_app.domain.errors import InvalidInputError
from agentic_app.nodes.base import NodeContext, NodeParams, NodeType, default_registry

BrokerName = Literal[("paper", *sorted(SUPPORTED))]  # type: ignore[valid-type]
"""Where an order node trades: the paper broker, or a supported exchange (live)."""


class _OrderParams(NodeParams):
    symbol: str = Field(min_length=2, max_length=20)
    side: Literal["buy", "sell"]
    quantity: float | None = Field(None, gt=0, description="default: upstream position size")
    broker: BrokerName = Field(  # type: ignore[valid-type]
        "paper", description="paper, or live on your exchange account (Broker page)")

    @field_validator("symbol")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()


def _quantity(ctx: NodeContext, params: Any) -> float:
    if params.quantity is not None:
        return float(params.quantity)
    for out in reversed(list(ctx.ancestors.values())):
        if isinstance(out, dict) and "quantity" in out:
            sized_on = out.get("sized_on", "paper") if "equity" in out else params.broker
            if sized_on != params.broker:  # e.g. sized from paper equity, traded live
                raise InvalidInputError(
                    f"the upstream position size was computed from the {sized_on} account; "
                    f"set its broker to {params.broker} to size from that account",
                    field="quantity")
            return float(out["quantity"])
    raise InvalidInputError("no quantity: set it or put a position_size node upstream",
                            field="quantity")


class _OrderNode(NodeType):
    order_type = "market"
    outputs = {"placed": "whether an order was placed", "order": "the broker's order",
               "order_id": "order id", "avg_fill_price": "fill price", "status": "order status"}

    def _limit_price(self, ctx: NodeContext, params: Any) -> float | None:
        return None

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        qty = _quantity(ctx, params)
        if qty <= 0:
            ctx.log("quantity is 0: no order placed", level="warning")
            return {"placed": False, "reason": "quantity is 0", "value": 0.0}
        request = OrderRequest(
            user_id=ctx.user_id, symbol=params.symbol, side=params.side, quantity=qty,
            idempotency_key=ctx.idempotency_key, order_type=self.order_type,
            limit_price=self._limit_price(ctx, params),
            execution_id=ctx.execution_id if isinstance(ctx.execution_id, int) else None,
            node_id=ctx.node_id, broker=params.broker)
        result = ctx.services.broker.place_order(request)
        order = result.to_dict()
        if result.status == ALERT_ONLY:
            ctx.log(f"alert-only: would have placed {params.side} {qty:g} {params.symbol} "
                    f"{self.order_type}; sent as an alert, nothing traded",
                    alert_order_id=result.order_id)
            return {"placed": False, "alert_only": True, "would_place": order,
                    "order": order, "order_id": None, "status": ALERT_ONLY,
                    "avg_fill_price": None, "quantity": qty, "value": qty}
        verb = "reused" if result.duplicate else "placed"
        ctx.log(f"{verb} {params.side} {qty:g} {params.symbol} {self.order_type}: "
                f"{result.status}", order_id=result.order_id,
                avg_fill_price=result.avg_fill_price)
        return {"placed": True, "duplicate": result.duplicate, "order": order,
                "order_id": result.order_id, "status": str(order.get("status")),
                "avg_fill_price": result.avg_fill_price, "quantity": qty, "value": qty}


@default_registry.register
class MarketOrderNode(_OrderNode):
    """Buy or sell at market on the broker."""

    type_name = "market_order"

    class Params(_OrderParams):
        """Symbol, side and optional quantity."""


@default_registry.register
class LimitOrderNode(_OrderNode):
    """Buy or sell with a limit price (absolute, or an offset % from the current price)."""

    type_name = "limit_order"
    order_type = "limit"

    class Params(_OrderParams):
        """Symbol, side, quantity and the limit."""

        limit_price: float | None = Field(None, gt=0)
        offset_pct: float | None = Field(None, ge=-50, le=50,
                                         description="limit = price x (1 + offset/100)")

    def _limit_price(self, ctx: NodeContext, params: Any) -> float | None:
        if params.limit_price is not None:
            return params.limit_price
        if params.offset_pct is None:
            raise InvalidInputError("give limit_price or offset_pct", field="limit_price")
        price = ctx.services.market.price(params.symbol, ctx.now).price
        return float(price) * (1 + params.offset_pct / 100.0)
