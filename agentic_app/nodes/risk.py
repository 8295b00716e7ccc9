"""Position sizing node: fixed-fractional risk of account equity, rounded to the lot step."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, model_validator

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.sizing import position_size
from agentic_app.market import indicators
from agentic_app.nodes.base import NodeContext, NodeParams, NodeType, default_registry
from agentic_app.nodes.orders import BrokerName
from agentic_app.nodes.values import bars_arrays, find_bars


@default_registry.register
class PositionSizeNode(NodeType):
    """Quantity such that hitting the stop loses ``risk_pct`` % of equity (never above max)."""

    type_name = "position_size"
    outputs = {"quantity": "units to trade (0 when too small)", "entry_price": "price used",
               "stop_distance": "stop distance in price units", "risk_amount": "money at risk",
               "equity": "account equity", "capped": "hit max_position", "reason": "why",
               "sized_on": "the account sized from (an order node trading elsewhere refuses)"}

    class Params(NodeParams):
        """Risk %, and the stop as a price distance, a % of price, or ATR multiples."""

        symbol: str = Field(min_length=2, max_length=20)
        risk_pct: float = Field(1.0, gt=0, le=100)
        stop_distance: float | None = Field(None, gt=0)
        stop_pct: float | None = Field(None, gt=0, lt=100)
        atr_multiple: float | None = Field(None, gt=0, le=100)
        atr_period: int = Field(14, ge=2, le=1000)
        max_position: float | None = Field(None, gt=0)
        broker: BrokerName = Field(  # type: ignore[valid-type]
            "paper", description="the account whose equity is risked: paper or an exchange")

        @model_validator(mode="after")
        def _one_stop(self):
            given = [n for n in ("stop_distance", "stop_pct", "atr_multiple")
                     if getattr(self, n) is not None]
            if len(given) != 1:
                raise ValueError("give exactly one of stop_distance, stop_pct, atr_multiple")
            self.symbol = self.symbol.strip().upper()
            return self

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        market, broker = ctx.services.market, ctx.services.broker
        instrument = market.instrument(params.symbol)
        entry = float(market.price(params.symbol, ctx.now).price)
        stop = params.stop_distance
        atr_value = None
        if params.stop_pct is not None:
            stop = entry * params.stop_pct / 100.0
        elif params.atr_multiple is not None:
            bars = bars_arrays(find_bars(ctx.ancestors))
            atr_value = indicators.latest("atr", bars, period=params.atr_period)["atr"]
            if not np.isfinite(atr_value) or atr_value <= 0:
                raise InvalidInputError("ATR is not available for the stop", field="atr_multiple")
        equity = float((broker.account(ctx.user_id) if params.broker == "paper"
                        else broker.account(ctx.user_id, venue=params.broker)).equity)
        result = position_size(
            equity, params.risk_pct, entry, stop_distance=stop, atr=atr_value,
            atr_multiple=params.atr_multiple if atr_value is not None else None,
            lot_step=instrument.lot_step, min_lot=instrument.min_lot,
            max_position=params.max_position, contract_size=instrument.contract_size)
        out = result.to_dict()
        out.update(entry_price=entry, equity=equity, symbol=params.symbol,
                   sized_on=params.broker, value=out["quantity"])
        ctx.log(f"size {out['quantity']:g} {params.symbol} (risk {out['risk_amount']:.2f} of "
                f"equity {equity:.2f}, stop {out['stop_distance']:g})", **out)
        return out
