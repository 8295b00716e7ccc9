"""The FastAPI application that Reflex mounts through ``api_transformer``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from agentic_app.api.rq_dashboard import mount_rq_dashboard
from agentic_app.settings import Settings, get_settings

API_PREFIX = "/api/agentic"
"""Every REST and WebSocket route lives under this prefix."""


def create_api(settings: Settings | None = None,
               redis_url_resolver: Callable[[], str | None] | None = None) -> FastAPI:
    """Build the API app; ``redis_url_resolver`` says which Redis is in use (default: settings)."""
    settings = settings or get_settings()
    resolve_redis = redis_url_resolver or (lambda: settings.redis_url)
    api = FastAPI(
        title="agentic_app API",
        version="0.1.0",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )

    @api.get(f"{API_PREFIX}/health", tags=["health"])
    def health() -> JSONResponse:
        """Database and Redis liveness: 200 when both answer, 503 naming what failed."""
        from agentic_app.services.health import health_report

        ok, body = health_report(settings.database_url, resolve_redis())
        return JSONResponse(body, status_code=200 if ok else 503)

    mount_rq_dashboard(api, settings, resolve_redis)
    return api
