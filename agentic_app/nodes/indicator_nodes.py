"""Indicator nodes (TA-Lib): RSI, SMA, EMA, MACD, Bollinger Bands, ATR over upstream bars.

Each node reads the bars of its ``source`` node (default: the nearest upstream bars node)
and outputs ``value`` (latest of the main output), ``values`` (its recent series, so
conditions can test crossings) and every output's latest value by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from agentic_app.domain.indicators import indicator_schema
from agentic_app.market import indicators
from agentic_app.nodes.base import NodeContext, NodeParams, NodeType, default_registry
from agentic_app.nodes.values import bars_arrays, find_bars, series_tail


class _IndicatorNode(NodeType):
    indicator = ""

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        bars = bars_arrays(find_bars(ctx.ancestors, params.source))
        kwargs = params.model_dump(exclude={"source", "timeout_seconds", "join"})
        series = indicators.compute(self.indicator, bars, **kwargs)
        latest = indicators.latest(self.indicator, bars, **kwargs)
        main = indicators.spec(self.indicator).outputs[0]
        out: dict[str, Any] = {name: value for name, value in latest.items()}
        out["value"] = latest[main]
        out["values"] = series_tail(series[main])
        for name, arr in series.items():
            if name != main:
                out[f"{name}_values"] = series_tail(arr)
        ctx.log(f"{self.indicator.upper()}({', '.join(f'{v:g}' for v in kwargs.values())}) = "
                f"{latest[main]:.4g}", **{k: v for k, v in latest.items() if np.isfinite(v)})
        return out


def _params(name: str) -> type[NodeParams]:
    """The node's params: ``source`` plus the indicator's params, bounds and defaults from its
    schema (``domain.indicators``)."""
    from pydantic import create_model

    fields: dict[str, Any] = {
        "source": (str | None, Field(None, description="node id of the bars to use"))}
    for p in indicator_schema(name).params:
        fields[p.name] = (p.kind, Field(p.kind(p.default), ge=p.minimum, le=p.maximum))
    return create_model("Params", __base__=NodeParams, **fields)


def _indicator_node(name: str, type_doc: str) -> type[_IndicatorNode]:
    outputs = {out: f"latest {out}" for out in indicators.spec(name).outputs}
    outputs.update(value="latest main value", values="recent series of the main value")
    cls = type(f"{name.upper()}Node", (_IndicatorNode,), {
        "__doc__": type_doc, "type_name": name, "indicator": name,
        "Params": _params(name), "outputs": outputs, "__module__": __name__,
    })
    return default_registry.register(cls)


RsiNode = _indicator_node("rsi", "Relative Strength Index.")
SmaNode = _indicator_node("sma", "Simple moving average of closes.")
EmaNode = _indicator_node("ema", "Exponential moving average of closes.")
MacdNode = _indicator_node("macd", "MACD line, signal and histogram.")
BbandsNode = _indicator_node("bbands", "Bollinger Bands (upper, middle, lower).")
AtrNode = _indicator_node("atr", "Average True Range.")
