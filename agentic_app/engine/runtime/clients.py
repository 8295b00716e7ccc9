"""What the RQ job functions of one process use, owned in one place: the database handle,
the Redis clients, the node registry and the node services.

RQ job functions take ids only; they get everything else from :func:`process_clients`, built
once per process from the process settings (again only when the settings are reloaded, as
tests do). It is fork-safe: a forked child (a work-horse, a fork pool's worker) keeps the
parent's node services (built before forking on purpose, see prefork) but never uses the
parent's connections - on first use in the child its database pool is disposed without
closing the parent's sockets and its Redis clients are dropped.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import redis as redis_lib

from agentic_app.db.engine import Database
from agentic_app.settings import Settings, get_settings

CANCEL_POLL_TIMEOUT_S = 1.0
"""Socket timeout of the cancel-flag poll (no retry: the next poll is 0.2 s away)."""

_registry: Any = None
_services_factory: Callable[[Settings, Database], Any] | None = None


def configure(*, registry: Any = None,
              services_factory: Callable[[Settings, Database], Any] | None = None) -> None:
    """Use ``registry`` (a NodeRegistry) and ``services_factory(settings, db)`` instead of
    the built-in node library and ``build_node_services`` (tests, embedders)."""
    global _registry, _services_factory
    _registry = registry
    _services_factory = services_factory
    current = _current
    if current is not None:
        current.drop_node_services()


def node_registry() -> Any:
    """The registry executions use: the configured one, else the built-in node library."""
    if _registry is not None:
        return _registry
    from agentic_app.nodes.library import registry

    return registry


class ProcessClients:
    """One process's clients for running tasks, built from ``settings`` (explicitly in
    tests; :func:`process_clients` for the process's own)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._redis: redis_lib.Redis | None = None
        self._poll_redis: redis_lib.Redis | None = None
        self._services: Any = None

    @property
    def redis(self) -> redis_lib.Redis:
        """The client for the finish of attempts and event publishing (created on first use)."""
        client = self._redis
        if client is None:
            from agentic_app.engine.redis_conn import connect

            with self._lock:
                if self._redis is None:
                    self._redis = connect(self.settings.redis_url)
                client = self._redis
        return client

    @property
    def poll_redis(self) -> redis_lib.Redis:
        """The client for cancel-flag polls: short timeout, no retries, so a stalled Redis
        delays a watch round by at most ``CANCEL_POLL_TIMEOUT_S``."""
        client = self._poll_redis
        if client is None:
            from agentic_app.engine.redis_conn import connect

            with self._lock:
                if self._poll_redis is None:
                    self._poll_redis = connect(
                        self.settings.redis_url, timeout=CANCEL_POLL_TIMEOUT_S,
                        read_timeout=CANCEL_POLL_TIMEOUT_S, retry=False)
                client = self._poll_redis
        return client

    def node_services(self) -> Any:
        """The services nodes use (market, broker, notifier), built on first use."""
        services = self._services
        if services is None:
            with self._lock:
                if self._services is None:
                    if _services_factory is not None:
                        self._services = _services_factory(self.settings, self.db)
                    else:
                        from agentic_app.engine.executor.node_services import (
                            build_node_services,
                        )

                        self._services = build_node_services(self.settings, db=self.db)
                services = self._services
        return services

    def drop_node_services(self) -> None:
        """Build the node services anew on next use (after :func:`configure`)."""
        self._services = None

    def reset_connections(self, *, redis: redis_lib.Redis | None = None) -> None:
        """Forget every connection: the database pool is disposed without closing its
        sockets (a forked child must not close its parent's), the Redis clients are dropped;
        ``redis`` (for this process's Redis URL) becomes the tasks' client."""
        self.db.engine.dispose(close=False)
        self._lock = threading.Lock()  # a fork may have copied it held by a lost thread
        self._redis, self._poll_redis = redis, None
        self.pid = os.getpid()


_current: ProcessClients | None = None
_current_lock = threading.Lock()


def process_clients() -> ProcessClients:
    """This process's clients, built from the process settings on first use (rebuilt when
    the settings were reloaded); in a forked child its connections are reset first."""
    settings = get_settings()
    current = _current
    if current is None or current.settings is not settings:
        current = _build(settings)
    if current.pid != os.getpid():
        current.reset_connections()
    return current


def _build(settings: Settings) -> ProcessClients:
    global _current
    with _current_lock:
        if _current is None or _current.settings is not settings:
            _current = ProcessClients(settings)
        return _current


def process_db() -> Database:
    """This process's database handle (see :func:`process_clients`)."""
    return process_clients().db


def after_fork(*, redis: redis_lib.Redis | None = None, redis_url: str | None = None) -> None:
    """Drop the connections inherited from the parent (or, in a parent about to fork, the
    ones it holds). ``redis``, a client for ``redis_url`` (a forking worker's own), becomes
    the tasks' client when that is the process's Redis URL - one new connection per horse
    instead of two - for the finish and event publishing only: RQ raised that client's read
    timeout to about a minute, so cancel polls use their own short-timeout client and
    heartbeats go to the database, neither waiting on it."""
    current = _current
    if current is None or current.settings is not get_settings():
        current = _build(get_settings())
    adopt = redis if redis is not None and redis_url == current.settings.redis_url else None
    current.reset_connections(redis=adopt)
