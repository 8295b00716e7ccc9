"""The FastAPI application that Reflex mounts through ``api_transformer``.

Routes live in :mod:`agentic_app.api.routers` (auth, workflows, scheduler, monitoring,
queue, webhooks, metrics, notifications, portfolio, alert_mode, broker), all under
:data:`API_PREFIX`; errors are mapped centrally in :mod:`agentic_app.api.errors`; bodies over
1 MiB are refused with 413 before parsing; cross-origin browser calls are allowed from
``FRONTEND_ORIGINS`` only.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from agentic_app.api.access_log import install_access_log_redaction
from agentic_app.api.body_limit import MAX_REQUEST_BYTES, BodySizeLimitMiddleware
from agentic_app.api.deps import AppDep, OptionalToken
from agentic_app.api.errors import install_error_handlers
from agentic_app.api.routers import (
    alert_mode,
    auth,
    broker,
    metrics,
    monitoring,
    notifications,
    portfolio,
    queue,
    scheduler,
    webhooks,
    workflows,
)
from agentic_app.api.rq_dashboard import mount_rq_dashboard
from agentic_app.services.app import AppServices

API_PREFIX = "/api/agentic"
"""Every REST and WebSocket route lives under this prefix."""
PUBLIC_ROUTES = frozenset({
    ("POST", f"{API_PREFIX}/auth/login"),
    ("GET", f"{API_PREFIX}/health"),
    ("POST", f"{API_PREFIX}/webhooks/{{token}}"),
    ("POST", f"{API_PREFIX}/webhooks/{{token}}/{{secret}}"),
})
"""(method, path) of the routes that need no bearer token (the webhook is signed)."""


def create_api(app: AppServices | None = None) -> FastAPI:
    """Build the API app on the facade ``app`` (default: this process's)."""
    app = app or AppServices.for_process()
    api = FastAPI(
        title="agentic_app API",
        version="0.1.0",
        description="Schedule, queue, run and monitor trading workflows. Authenticate with "
                    "`Authorization: Bearer <token>` (POST /auth/login, or an API token).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    api.state.services = app
    install_access_log_redaction()  # the TradingView secret URL never reaches the log
    install_error_handlers(api)
    api.add_middleware(BodySizeLimitMiddleware, max_bytes=MAX_REQUEST_BYTES)
    # browsers may call the API from the configured frontend origins only (not ``*``)
    api.add_middleware(CORSMiddleware, allow_origins=app.settings.frontend_origins,
                       allow_credentials=True, allow_methods=["*"], allow_headers=["*"])

    router = APIRouter(prefix=API_PREFIX)

    @router.get("/health", tags=["health"], responses={
        200: {"description": "Database and Redis answer"},
        503: {"description": "Degraded: for admins ``failed`` names what did not answer"}})
    def health(services: AppDep, token: OptionalToken) -> JSONResponse:
        """Database and Redis liveness: 200 when both answer, else 503. Anonymous callers
        get ``status`` only; admins (bearer token) also get details, passwords hidden."""
        ok, body = services.health.report(token)
        return JSONResponse(body, status_code=200 if ok else 503)

    for module in (auth, workflows, scheduler, monitoring, queue, webhooks, metrics,
                   notifications, portfolio, alert_mode, broker):
        router.include_router(module.router)
    api.include_router(router)
    mount_rq_dashboard(api, app)
    return api
