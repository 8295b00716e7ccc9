"""The application facade: one :class:`AppServices` per process, built from Settings.

Every front end (REST routers, Reflex states, the CLI) does everything through it; the
scheduler and workers build the same object (:meth:`AppServices.for_process`) to get the
clients. It owns the clients - the database handle, the Redis clients, the shared pub/sub
connection of each event loop (``live_hub``), the market feed and the node services (broker,
notifier) - and is organised by concern, one service per module::

    app.auth  app.users  app.tokens  app.workflows  app.schedules  app.triggers
    app.queue  app.monitoring  app.webhooks  app.metrics  app.health  app.demo  app.runs
    app.editor  app.alerts (app.alerts.channels)  app.portfolio  app.alert_mode
    app.broker  app.kill_switch

Methods acting on a user's objects take the acting user (an :class:`Actor`) first and check
ownership there, once for every front end: another user's object is a NotFoundError.

States and routers import this module (and its public types below), never the service
modules, the engine or the database directly.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import redis as redis_lib

from agentic_app.db.engine import Database
from agentic_app.domain.errors import (
    AgenticError,
    AuthenticationError,
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
)
from agentic_app.engine.events.hub import PubSubHub
from agentic_app.engine.per_process import PerProcess
from agentic_app.services.alert_mode import AlertModeService
from agentic_app.services.alerts import AlertService
from agentic_app.services.auth import (
    MAX_TOKEN_LENGTH,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    AuthService,
)
from agentic_app.services.base import Actor
from agentic_app.services.broker import BrokerService
from agentic_app.services.dashboard import (
    INDICATOR_NAMES,
    MAX_BACKTEST_DAYS,
    TriggerDesigner,
)
from agentic_app.services.demo import DemoService
from agentic_app.services.editor import EditorService, EditorView
from agentic_app.services.health import HealthService
from agentic_app.services.kill_switch import KillSwitchService
from agentic_app.services.live_slots import LiveSlots
from agentic_app.services.login_limit import LoginThrottledError
from agentic_app.services.metrics import MetricsService
from agentic_app.services.monitoring import TERMINAL_STATUSES, MonitoringService
from agentic_app.services.portfolio import ACCOUNTS, MAX_CURVE_POINTS, PortfolioService
from agentic_app.services.queue import MAX_BULK, QueueService
from agentic_app.services.schedules import ScheduleService
from agentic_app.services.tokens import TokenService
from agentic_app.services.users import UserService
from agentic_app.services.webhooks import WebhookService
from agentic_app.services.workflow_run import RunService
from agentic_app.services.workflows import WorkflowService
from agentic_app.settings import Settings, get_settings

__all__ = [
    "ACCOUNTS",
    "INDICATOR_NAMES",
    "MAX_BACKTEST_DAYS",
    "MAX_BULK",
    "MAX_CURVE_POINTS",
    "MAX_TOKEN_LENGTH",
    "SESSION_COOKIE",
    "SESSION_LIFETIME",
    "TERMINAL_STATUSES",
    "Actor",
    "AgenticError",
    "AppServices",
    "AuthenticationError",
    "EditorView",
    "ForbiddenError",
    "LoginThrottledError",
    "NotFoundError",
    "ServiceUnavailableError",
]

REDIS_RESOLVE_TTL_S = 10.0
"""How long a resolved Redis URL is reused before it is looked up again."""

RedisUrl = str | Callable[[], str | None] | None
"""A fixed Redis URL, a resolver asked again every ``REDIS_RESOLVE_TTL_S``, or None (the
configured Redis, else the private local one)."""


class AppServices:
    """The one facade of a process: clients plus one service object per concern."""

    def __init__(self, settings: Settings, *, redis_url: RedisUrl = None,
                 market: Any = None) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self._redis_source = redis_url
        self._resolved: tuple[str | None, float] = (None, -math.inf)
        self._redis_clients: dict[str, redis_lib.Redis] = {}
        self._hubs: weakref.WeakKeyDictionary[Any, dict[str, PubSubHub]] = (
            weakref.WeakKeyDictionary())
        self._market = market
        self._node_services: Any = None
        self._lock = threading.RLock()
        self.live_slots = LiveSlots(settings.limits.max_live_subscriptions_per_user,
                                    lease_s=settings.limits.live_subscription_lease_seconds,
                                    redis=self.redis_or_none)
        self.auth = AuthService(self)
        self.users = UserService(self)
        self.tokens = TokenService(self)
        self.workflows = WorkflowService(self)
        self.schedules = ScheduleService(self)
        self.triggers = TriggerDesigner(self)
        self.queue = QueueService(self)
        self.monitoring = MonitoringService(self)
        self.webhooks = WebhookService(self)
        self.metrics = MetricsService(self)
        self.health = HealthService(self)
        self.demo = DemoService(self)
        self.editor = EditorService(settings.workflows.limits())
        self.runs = RunService(self)
        self.alerts = AlertService(self)
        self.portfolio = PortfolioService(self)
        self.alert_mode = AlertModeService(self)
        self.broker = BrokerService(self)
        self.kill_switch = KillSwitchService(self)
        _LIVE.add(self)

    @classmethod
    def for_process(cls) -> AppServices:
        """This process's facade, built from the process Settings on first use (a forked
        child builds its own: clients and threads do not survive a fork)."""
        return _PROCESS_APP.get()

    # -- Redis ------------------------------------------------------------------------------

    def redis_url(self) -> str | None:
        """The Redis URL in use (None when no Redis is known). Blocking: may ping Redis."""
        source = self._redis_source
        if isinstance(source, str):
            return source
        url, at = self._resolved
        if url is not None and time.monotonic() - at < REDIS_RESOLVE_TTL_S:
            return url
        if source is None:
            from agentic_app.engine.runtime.local_redis import find_redis

            url = find_redis(self.settings.redis_url, self.settings.data_dir)
        else:
            url = source()
        self._resolved = (url, time.monotonic()) if url is not None else (None, -math.inf)
        return url

    def use_redis(self, url: str) -> None:
        """Pin the Redis URL (the CLI found or started it)."""
        self._redis_source = url

    def ensure_redis(self, *, allow_start: bool = False) -> str:
        """A Redis URL that answers, starting a private Redis in local mode when allowed and
        none answers; pinned for this facade. RuntimeError when there is none."""
        from agentic_app.engine.runtime.local_redis import ensure_redis

        s = self.settings
        url, _ = ensure_redis(s.redis_url, s.data_dir, daemonize=True,
                              allow_start=allow_start and s.is_local)
        self.use_redis(url)
        return url

    def redis_or_none(self) -> redis_lib.Redis | None:
        """The shared Redis client of the URL in use, or None when no Redis is known."""
        url = self.redis_url()
        if url is None:
            return None
        with self._lock:
            client = self._redis_clients.get(url)
            if client is None:
                from agentic_app.engine.redis_conn import connect

                client = self._redis_clients[url] = connect(url)
            return client

    def live_hub(self, url: str) -> PubSubHub:
        """The running event loop's shared pub/sub connection to ``url``, through which every
        live stream of the loop subscribes (one per loop and URL; call it from the loop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            hubs = self._hubs.setdefault(loop, {})
            hub = hubs.get(url)
            if hub is None:
                hub = hubs[url] = PubSubHub(url)
            return hub

    @property
    def redis(self) -> redis_lib.Redis:
        """The shared Redis client; ServiceUnavailableError (503) when no Redis is known."""
        client = self.redis_or_none()
        if client is None:
            raise ServiceUnavailableError("Redis is not available", field="redis")
        return client

    # -- market and node services ----------------------------------------------------------

    @property
    def market(self) -> Any:
        """The market feed of the settings (MARKET_FEED), built once."""
        with self._lock:
            if self._market is None:
                from agentic_app.engine.executor.node_services import build_market

                self._market = build_market(self.settings)
            return self._market

    @property
    def node_services(self) -> Any:
        """Market, paper broker and notifier that workflow nodes use, built once."""
        with self._lock:
            if self._node_services is None:
                from agentic_app.engine.executor.node_services import build_node_services

                self._node_services = build_node_services(
                    self.settings, db=self.db, market=self.market, redis=lambda: self.redis,
                    alert=self._alert_quietly)
            return self._node_services

    def _alert_quietly(self, **kwargs: Any) -> None:
        """Emit an alert (inbox + channels) for the node services; never raises."""
        from agentic_app.engine.alerts.emit import emit_quietly

        emit_quietly(self.db, self.redis_or_none(), settings=self.settings, **kwargs)

    # -- schema -----------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the database schema to head (idempotent; serialised between processes)."""
        from agentic_app.db.channel_urls import channel_cipher
        from agentic_app.db.migrate import upgrade_to_head

        upgrade_to_head(self.db.url, self.settings.data_dir, channel_cipher(self.settings))

    def close(self) -> None:
        """Close the Redis clients (the database engine is shared per URL and stays)."""
        with self._lock:
            clients, self._redis_clients = list(self._redis_clients.values()), {}
        for client in clients:
            client.close()

    def after_fork(self) -> None:
        """In a forked child: forget the parent's pooled connections without closing them
        (the parent still uses those sockets)."""
        self.db.engine.dispose(close=False)
        self._redis_clients = {}
        self._hubs = weakref.WeakKeyDictionary()
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"AppServices({self.db!r})"


def _build_process_app() -> AppServices:
    return AppServices(get_settings())


_PROCESS_APP: PerProcess[AppServices] = PerProcess(_build_process_app)
_LIVE: weakref.WeakSet[AppServices] = weakref.WeakSet()
"""Every facade of this process (a forked child must forget their pooled connections)."""


def _after_fork_in_child() -> None:
    for app in list(_LIVE):
        app.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
