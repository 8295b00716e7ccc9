"""Prometheus metrics route: ``GET /metrics`` (admins only: the figures span all users).

Scrape it with an admin's API token, e.g. in prometheus.yml::

    authorization: {type: Bearer, credentials: <api token of an admin user>}
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from agentic_app.api.deps import AppDep, CurrentUser
from agentic_app.api.errors import error_responses

router = APIRouter(tags=["metrics"], responses=error_responses(401, 403, 500))


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format"}})
async def metrics(user: CurrentUser, app: AppDep) -> Response:
    """Queue depth, executions by status, node durations, trigger evaluation time,
    scheduler leader, computed at scrape time."""
    text = await run_in_threadpool(app.metrics.render, user)
    return Response(content=text, media_type=app.metrics.content_type)
