"""Market data nodes: the latest price of a symbol, and the last N bars at a timeframe."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from agentic_app.nodes.base import NodeContext, NodeParams, NodeType, default_registry

Timeframe = Literal["1m", "5m", "15m", "1h", "4h", "1d"]


class _SymbolParams(NodeParams):
    symbol: str = Field(min_length=2, max_length=20)

    @field_validator("symbol")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()


@default_registry.register
class PriceNode(NodeType):
    """Latest price of a symbol at the execution time."""

    type_name = "price"
    outputs = {"price": "last price", "value": "same as price", "symbol": "symbol",
               "ts": "quote time (ISO)"}

    class Params(_SymbolParams):
        """Which symbol."""

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        quote = ctx.services.market.price(params.symbol, ctx.now)
        ctx.log(f"{quote.symbol} = {quote.price:g}", symbol=quote.symbol, price=quote.price)
        return {"symbol": quote.symbol, "price": quote.price, "value": quote.price,
                "ts": quote.ts.isoformat()}


@default_registry.register
class BarsNode(NodeType):
    """The last ``count`` closed OHLCV bars of a symbol at a timeframe."""

    type_name = "bars"
    outputs = {"symbol": "symbol", "timeframe": "timeframe", "ts": "bar open times (epoch s)",
               "open": "opens", "high": "highs", "low": "lows", "close": "closes",
               "volume": "volumes", "last_close": "close of the newest bar",
               "value": "same as last_close"}

    class Params(_SymbolParams):
        """Symbol, timeframe and bar count."""

        timeframe: Timeframe = "1h"
        count: int = Field(100, ge=1, le=5000)

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        bars = ctx.services.market.bars(params.symbol, params.timeframe, params.count, ctx.now)
        ctx.log(f"{len(bars)} {params.timeframe} bars of {bars.symbol}, last close "
                f"{bars.last_close:g}", bars=len(bars))
        return {"symbol": bars.symbol, "timeframe": params.timeframe,
                "ts": [int(t) for t in bars.ts], "open": bars.open.tolist(),
                "high": bars.high.tolist(), "low": bars.low.tolist(),
                "close": bars.close.tolist(), "volume": bars.volume.tolist(),
                "last_close": bars.last_close, "value": bars.last_close}
