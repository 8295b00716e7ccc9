"""Prometheus metrics route: ``GET /metrics`` (admins only: the figures span all users).

Scrape it with an admin's API token, e.g. in prometheus.yml::

    authorization: {type: Bearer, credentials: <api token of an admin user>}
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from agentic_app.api.deps import CurrentUser, OptionalRedisDep, SettingsDep
from agentic_app.api.errors import ForbiddenError, error_responses
from agentic_app.services.metrics import CONTENT_TYPE, render_metrics

router = APIRouter(tags=["metrics"], responses=error_responses(401, 403, 500))


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format"}})
async def metrics(user: CurrentUser, settings: SettingsDep,
                  redis: OptionalRedisDep) -> Response:
    """Queue depth, executions by status, node durations, trigger evaluation time,
    scheduler leader, computed at scrape time."""
    if not user.is_admin:
        raise ForbiddenError("metrics are for admins", field="Authorization")
    text = await run_in_threadpool(render_metrics, settings.database_url, redis,
                                   settings.queue_config.max_queue_size)
    return Response(content=text, media_type=CONTENT_TYPE)
