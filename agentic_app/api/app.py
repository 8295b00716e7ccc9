"""The FastAPI application that Reflex mounts through ``api_transformer``.

Routes live in :mod:`agentic_app.api.routers` (auth, workflows, scheduler, monitoring,
queue, webhooks, metrics), all under :data:`API_PREFIX`; errors are mapped centrally in
:mod:`agentic_app.api.errors`; bodies over 1 MiB are refused with 413 before parsing.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from agentic_app.api.body_limit import MAX_REQUEST_BYTES, BodySizeLimitMiddleware
from agentic_app.api.deps import RedisClients
from agentic_app.api.errors import install_error_handlers
from agentic_app.api.routers import (
    auth,
    metrics,
    monitoring,
    queue,
    scheduler,
    webhooks,
    workflows,
)
from agentic_app.api.rq_dashboard import mount_rq_dashboard
from agentic_app.settings import Settings, get_settings

API_PREFIX = "/api/agentic"
"""Every REST and WebSocket route lives under this prefix."""
PUBLIC_ROUTES = frozenset({
    ("POST", f"{API_PREFIX}/auth/login"),
    ("GET", f"{API_PREFIX}/health"),
    ("POST", f"{API_PREFIX}/webhooks/{{token}}"),
})
"""(method, path) of the routes that need no bearer token (the webhook is signed)."""


def create_api(settings: Settings | None = None,
               redis_url_resolver: Callable[[], str | None] | None = None) -> FastAPI:
    """Build the API app; ``redis_url_resolver`` says which Redis is in use (default: settings)."""
    settings = settings or get_settings()
    resolve_redis = redis_url_resolver or (lambda: settings.redis_url)
    api = FastAPI(
        title="agentic_app API",
        version="0.1.0",
        description="Schedule, queue, run and monitor trading workflows. Authenticate with "
                    "`Authorization: Bearer <token>` (POST /auth/login, or an API token).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    api.state.settings = settings
    api.state.redis_clients = RedisClients(resolve_redis)
    install_error_handlers(api)
    api.add_middleware(BodySizeLimitMiddleware, max_bytes=MAX_REQUEST_BYTES)

    router = APIRouter(prefix=API_PREFIX)

    @router.get("/health", tags=["health"], responses={
        200: {"description": "Database and Redis answer"},
        503: {"description": "Degraded: ``failed`` names what did not answer"}})
    def health(request: Request) -> JSONResponse:
        """Database and Redis liveness: 200 when both answer, 503 naming what failed."""
        from agentic_app.services.health import health_report

        state = request.app.state
        ok, body = health_report(state.settings.database_url, state.redis_clients.url())
        return JSONResponse(body, status_code=200 if ok else 503)

    for module in (auth, workflows, scheduler, monitoring, queue, webhooks, metrics):
        router.include_router(module.router)
    api.include_router(router)
    mount_rq_dashboard(api, settings, resolve_redis)
    return api
