"""The Reflex app: pages, the mounted API, and the local runtime lifespan. Wiring only."""

from __future__ import annotations

import contextlib
import logging

import reflex as rx

from agentic_app import routes
from agentic_app.api.app import create_api
from agentic_app.pages.broker import broker_page
from agentic_app.pages.job_history import job_history_page
from agentic_app.pages.login import login_page
from agentic_app.pages.monitor import execution_page, monitor_page
from agentic_app.pages.notifications import notifications_page
from agentic_app.pages.portfolio import portfolio_page
from agentic_app.pages.queue import queue_page
from agentic_app.pages.scheduler import scheduler_page
from agentic_app.pages.workflows import workflow_edit_page, workflows_page
from agentic_app.services.app import AppServices
from agentic_app.services.runtime import LocalRuntime
from agentic_app.state.alerts import BellState, NotificationsState
from agentic_app.state.broker import BrokerState
from agentic_app.state.guard import SessionGuard
from agentic_app.state.job_history import JobHistoryState
from agentic_app.state.live import LiveState
from agentic_app.state.monitor import MonitorState
from agentic_app.state.portfolio import ExecutionOrdersState, PortfolioState
from agentic_app.state.queue import QueueState
from agentic_app.state.scheduler import SchedulerState
from agentic_app.state.workflows import WorkflowEditState, WorkflowsState

log = logging.getLogger("agentic_app")
services = AppServices.for_process()
"""This backend process's facade: the mounted API and every Reflex state use it."""


@contextlib.asynccontextmanager
async def local_runtime():
    """Bring up Redis, migrations, demo data, workers and scheduler; stop them on shutdown."""
    runtime = LocalRuntime(services.settings, app=services)
    runtime.start()
    try:
        yield
    finally:
        runtime.stop()


app = rx.App(
    api_transformer=create_api(services),
)
app.register_lifespan_task(local_runtime)
app.add_middleware(SessionGuard())  # every event: a valid session, unless marked open

app.add_page(login_page, route=routes.LOGIN, title="Sign in · agentic")


def _guarded(*loaders):
    """on_load chain of a protected page: the user-event watcher, then the loaders (each
    event passes the session guard: without a session the tab goes to the login page)."""
    return [LiveState.start_watch, BellState.start_bell, *loaders]


app.add_page(scheduler_page, route=routes.INDEX, title="Scheduler · agentic",
             on_load=_guarded(SchedulerState.load_jobs))
app.add_page(scheduler_page, route=routes.SCHEDULER, title="Scheduler · agentic",
             on_load=_guarded(SchedulerState.load_jobs))
app.add_page(job_history_page, route=routes.SCHEDULER_JOB, title="Job history · agentic",
             on_load=_guarded(JobHistoryState.load_history))
app.add_page(queue_page, route=routes.QUEUE, title="Queue · agentic",
             on_load=_guarded(QueueState.load_queue))
app.add_page(monitor_page, route=routes.MONITOR, title="Monitor · agentic",
             on_load=_guarded(LiveState.load_active, MonitorState.load_recent))
app.add_page(execution_page, route=routes.MONITOR_EXECUTION, title="Execution · agentic",
             on_load=_guarded(MonitorState.load_execution,
                              ExecutionOrdersState.load_execution_orders))
app.add_page(notifications_page, route=routes.NOTIFICATIONS, title="Notifications · agentic",
             on_load=_guarded(NotificationsState.load))
app.add_page(workflows_page, route=routes.WORKFLOWS, title="Workflows · agentic",
             on_load=_guarded(WorkflowsState.load_workflows))
app.add_page(workflow_edit_page, route=routes.WORKFLOW_EDIT, title="Workflow · agentic",
             on_load=_guarded(WorkflowEditState.load_workflow))
app.add_page(portfolio_page, route=routes.PORTFOLIO, title="Portfolio · agentic",
             on_load=_guarded(PortfolioState.load_portfolio))
app.add_page(broker_page, route=routes.BROKER, title="Broker · agentic",
             on_load=_guarded(BrokerState.load_broker))
