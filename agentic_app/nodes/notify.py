"""Notification node: an in-app notification row, plus delivery to apprise URLs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from agentic_app.domain.errors import RetryableError
from agentic_app.domain.outbound import check_url
from agentic_app.nodes.base import NodeContext, NodeParams, NodeType, default_registry
from agentic_app.nodes.values import condition_env, render_template
from agentic_app.settings import get_settings


def allowed_target(url: str) -> str:
    """``url`` when the outbound policy (settings ``OUTBOUND``) allows it; ValueError saying
    "refused: target not allowed" otherwise. Names are resolved again when sending."""
    return check_url(url, get_settings().outbound.policy())


NotifyTarget = Annotated[str, StringConstraints(min_length=1, max_length=2048),
                         AfterValidator(allowed_target)]
"""An apprise URL the outbound policy allows (checked at save time and before sending)."""


@default_registry.register
class NotificationNode(NodeType):
    """Notify the workflow's owner; ``{trigger.price}``-style placeholders are filled in."""

    type_name = "notification"
    outputs = {"notification_id": "in-app notification id", "delivered": "per-URL results"}

    class Params(NodeParams):
        """Title, message, level, apprise URLs and whether delivery failures fail the node."""

        title: str = Field(min_length=1, max_length=200)
        message: str = Field("", max_length=4000)
        level: Literal["info", "warning", "error"] = "info"
        apprise_urls: list[NotifyTarget] = Field(default_factory=list, max_length=20)
        fail_on_delivery_error: bool = False

    def run(self, ctx: NodeContext, params: Any, inputs: dict[str, dict]) -> dict:
        env = condition_env(ctx.ancestors, ctx.trigger_payload, None)
        title = render_template(params.title, env)
        body = render_template(params.message, env)
        result = ctx.services.notifier.notify(
            user_id=ctx.user_id, execution_id=ctx.execution_id, node_id=ctx.node_id,
            title=title, body=body, level=params.level, apprise_urls=params.apprise_urls)
        failed = [d for d in result["delivered"] if not d["ok"]]
        for d in failed:
            ctx.log(f"delivery to {d['schema']} failed: {d.get('error', 'unknown error')}",
                    level="warning")
        if failed and params.fail_on_delivery_error:
            raise RetryableError(f"{len(failed)} notification deliveries failed")
        ctx.log(f"notified: {title}")
        return {"notification_id": result["notification_id"], "title": title, "body": body,
                "delivered": result["delivered"]}
