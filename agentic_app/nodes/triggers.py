"""The five trigger nodes: schedule (cron), time (interval), price, indicator, webhook.

A trigger node is a workflow's entry point. Its params are the trigger configuration the
scheduler reads (the models of ``domain.triggers``, validation included), and in a run it passes the
trigger payload (fire time, price seen, indicator value, webhook body) downstream. Run by
hand (no payload), the price and indicator triggers read the market at the execution time.
"""

from __future__ import annotations

from typing import Any

from agentic_app.domain.indicators import indicator_schema
from agentic_app.domain.triggers import (
    CronTriggerConfig,
    IndicatorTriggerConfig,
    IntervalTriggerConfig,
    PriceTriggerConfig,
    WebhookTriggerConfig,
)
from agentic_app.market import indicators
from agentic_app.nodes.base import NodeContext, NodeParams, NodeType, default_registry


class _TriggerNode(NodeType):
    is_trigger = True
    outputs = {"fired_at": "ISO time the trigger fired", "payload": "the whole trigger payload"}

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        payload = dict(ctx.trigger_payload or {})
        payload.setdefault("fired_at", ctx.now.isoformat())
        return {**payload, "payload": dict(payload)}


@default_registry.register
class ScheduleTriggerNode(_TriggerNode):
    """Entry point fired by a cron schedule."""

    type_name = "schedule_trigger"

    class Params(NodeParams, CronTriggerConfig):
        """Cron trigger configuration."""


@default_registry.register
class TimeTriggerNode(_TriggerNode):
    """Entry point fired every N minutes."""

    type_name = "time_trigger"

    class Params(NodeParams, IntervalTriggerConfig):
        """Interval trigger configuration."""


@default_registry.register
class WebhookTriggerNode(_TriggerNode):
    """Entry point fired by a signed inbound webhook; the body is the payload."""

    type_name = "webhook_trigger"
    outputs = {**_TriggerNode.outputs, "body": "the webhook body (JSON)"}

    class Params(NodeParams, WebhookTriggerConfig):
        """Webhook trigger configuration."""


@default_registry.register
class PriceTriggerNode(_TriggerNode):
    """Entry point fired when a price condition on a symbol becomes true."""

    type_name = "price_trigger"
    outputs = {**_TriggerNode.outputs, "price": "price seen", "symbol": "symbol"}

    class Params(NodeParams, PriceTriggerConfig):
        """Price trigger configuration; the condition may use ``price``."""

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        out = super().run(ctx, params, inputs)
        if "price" not in out:
            quote = ctx.services.market.price(params.symbol, ctx.now)
            out.update(price=quote.price, quote_ts=quote.ts.isoformat(), symbol=quote.symbol)
            out["payload"] = {k: v for k, v in out.items() if k != "payload"}
        out.setdefault("symbol", params.symbol)
        return out


@default_registry.register
class IndicatorTriggerNode(_TriggerNode):
    """Entry point fired when an indicator condition becomes true (on bar close by default)."""

    type_name = "indicator_trigger"
    outputs = {**_TriggerNode.outputs, "value": "indicator value seen", "symbol": "symbol"}

    class Params(NodeParams, IndicatorTriggerConfig):
        """Indicator trigger configuration; the condition may use ``price``, the indicator's
        name and its outputs (``domain.triggers.condition_names``)."""

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        out = super().run(ctx, params, inputs)
        if "value" not in out:
            spec = indicators.spec(params.indicator)
            bars = ctx.services.market.bars(params.symbol, params.timeframe,
                                            max(spec.min_bars(**params.params) * 3, 100), ctx.now)
            latest = indicators.latest(params.indicator, bars, **params.params)
            main = indicator_schema(params.indicator).main_output
            out.update(symbol=params.symbol, timeframe=params.timeframe,
                       indicator=params.indicator, price=bars.last_close,
                       value=latest[main], outputs=latest)
            out["payload"] = {k: v for k, v in out.items() if k != "payload"}
        out.setdefault("symbol", params.symbol)
        return out
