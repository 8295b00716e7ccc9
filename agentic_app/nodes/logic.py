"""Condition / branch node: a safe expression over upstream outputs and the trigger payload.

Names: ``<node_id>`` (its value, or its series when it has ``values``), ``<node_id>.<key>``
and ``trigger.<key>``. The node takes the ``true`` or ``false`` branch; nodes reached only
through the untaken branch are skipped by the executor.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from agentic_app.domain import conditions
from agentic_app.domain.errors import ConditionError
from agentic_app.nodes.base import NodeContext, NodeParams, NodeType, default_registry
from agentic_app.nodes.values import check_condition, condition_env


@default_registry.register
class ConditionNode(NodeType):
    """Evaluate a condition and branch on it."""

    type_name = "condition"
    branches = ("true", "false")
    outputs = {"result": "the condition's truth", "value": "1.0 or 0.0",
               "branch": "'true' or 'false'"}

    class Params(NodeParams):
        """The expression, e.g. ``rsi < 30 and trigger.price > 1.05``."""

        expression: str = Field(min_length=1, max_length=conditions.MAX_LENGTH)

        @field_validator("expression")
        @classmethod
        def _parse(cls, value: str) -> str:
            return check_condition(value, field="expression")

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        trigger_id = next((nid for nid, out in ctx.ancestors.items()
                           if isinstance(out, dict) and "fired_at" in out), None)
        env = condition_env(ctx.ancestors, ctx.trigger_payload, trigger_id)
        cond = conditions.parse(params.expression, field="expression")
        try:
            result = cond.test(env)
        except ConditionError as exc:
            known = ", ".join(sorted(env)) or "none"
            raise ConditionError(f"{exc.message}; names available: {known}",
                                 field="expression", position=exc.position) from None
        used = {name: (env[name][-1] if isinstance(env.get(name), list) else env.get(name))
                for name in sorted(cond.names) if name in env}
        ctx.log(f"{params.expression} -> {result}", **used)
        return {"result": result, "value": 1.0 if result else 0.0,
                "branch": "true" if result else "false", "inputs": used}
