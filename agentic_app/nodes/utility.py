"""Utility nodes: delay (seconds) and log (a message into the execution's log)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import Field

from agentic_app.nodes.base import NodeContext, NodeParams, NodeType, default_registry
from agentic_app.nodes.values import condition_env, render_template


@default_registry.register
class DelayNode(NodeType):
    """Wait a number of seconds (does not block other branches)."""

    type_name = "delay"
    outputs = {"waited_s": "seconds waited"}
    timeout_default = 3600

    class Params(NodeParams):
        """How long to wait."""

        seconds: float = Field(ge=0, le=3600)

    async def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        await asyncio.sleep(params.seconds)
        return {"waited_s": params.seconds, "value": params.seconds}


@default_registry.register
class LogNode(NodeType):
    """Write a message (with ``{name}`` placeholders) into the execution's log."""

    type_name = "log"
    outputs = {"message": "the rendered message"}

    class Params(NodeParams):
        """Message and level."""

        message: str = Field(min_length=1, max_length=4000)
        level: Literal["debug", "info", "warning", "error"] = "info"

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        text = render_template(params.message, condition_env(ctx.ancestors,
                                                             ctx.trigger_payload, None))
        ctx.log(text, level=params.level)
        return {"message": text}
