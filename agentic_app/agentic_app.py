"""The Reflex app: pages, the mounted API, and the local runtime lifespan. Wiring only."""

from __future__ import annotations

import contextlib
import logging

import reflex as rx

from agentic_app import routes
from agentic_app.api.app import create_api
from agentic_app.pages.login import login_page
from agentic_app.pages.monitor import monitor_page
from agentic_app.pages.queue import queue_page
from agentic_app.pages.scheduler import scheduler_page
from agentic_app.pages.workflows import workflows_page
from agentic_app.services.runtime import LocalRuntime, effective_redis_url
from agentic_app.settings import get_settings
from agentic_app.state.base import AppState
from agentic_app.state.workflows import WorkflowsState

log = logging.getLogger("agentic_app")
settings = get_settings()


@contextlib.asynccontextmanager
async def local_runtime():
    """Bring up Redis, migrations, demo data, workers and scheduler; stop them on shutdown."""
    runtime = LocalRuntime(settings)
    runtime.start()
    try:
        yield
    finally:
        runtime.stop()


app = rx.App(
    api_transformer=create_api(settings, lambda: effective_redis_url(settings)),
)
app.register_lifespan_task(local_runtime)

app.add_page(login_page, route=routes.LOGIN, title="Sign in · agentic")
app.add_page(scheduler_page, route=routes.INDEX, title="Scheduler · agentic",
             on_load=AppState.require_login)
app.add_page(scheduler_page, route=routes.SCHEDULER, title="Scheduler · agentic",
             on_load=AppState.require_login)
app.add_page(queue_page, route=routes.QUEUE, title="Queue · agentic",
             on_load=AppState.require_login)
app.add_page(monitor_page, route=routes.MONITOR, title="Monitor · agentic",
             on_load=AppState.require_login)
app.add_page(workflows_page, route=routes.WORKFLOWS, title="Workflows · agentic",
             on_load=[AppState.require_login, WorkflowsState.load_workflows])
