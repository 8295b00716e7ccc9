"""Prometheus metrics, computed at scrape time from the database and Redis.

A dedicated ``CollectorRegistry`` per scrape (nothing global, nothing kept between scrapes):

* ``agentic_queue_jobs{queue,status}``       job_queue rows per priority queue and status
* ``agentic_queue_depth`` / ``agentic_queue_max_size``   pending jobs and the cap
* ``agentic_rq_queue_length{queue}``         RQ jobs waiting in each RQ queue
* ``agentic_rq_workers``                     RQ workers registered
* ``agentic_executions{status}``             workflow executions per status
* ``agentic_node_duration_seconds{node_type}`` histogram of node executions finished in the
  last ``NODE_WINDOW`` (at most ``NODE_SAMPLE_LIMIT`` rows)
* ``agentic_trigger_tick_duration_seconds``, ``agentic_trigger_tick_triggers``,
  ``agentic_trigger_tick_fires``, ``agentic_trigger_tick_timestamp_seconds``: the scheduler's
  last market-trigger evaluation, read from the Redis hash :data:`TRIGGER_TICK_KEY`
* ``agentic_scheduler_leader``               1 while a scheduler holds the leader lease
* ``agentic_redis_up``                       1 when Redis answered during this scrape
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta

import redis as redis_lib
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlmodel import col, func, select

from agentic_app.db.engine import Database
from agentic_app.db.models import JobQueueEntry, NodeExecution, WorkflowExecution, utcnow
from agentic_app.domain.errors import ForbiddenError
from agentic_app.engine.queue.names import QUEUE_NAMES, queue_for_priority
from agentic_app.engine.scheduler.service import LEADER_KEY, TICK_METRICS_KEY
from agentic_app.services.base import Actor, Service

log = logging.getLogger(__name__)

TRIGGER_TICK_KEY = TICK_METRICS_KEY
"""Redis hash the scheduler writes after each market-trigger tick: ``duration_ms`` (float),
``triggers`` (active triggers evaluated), ``fires`` (fires in that tick), ``at`` (unix time)."""
NODE_WINDOW = timedelta(hours=1)
"""Node executions finished within this window feed the duration histogram."""
NODE_SAMPLE_LIMIT = 20_000
"""At most this many recent node executions are read per scrape."""
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0, 60.0, 300.0)
"""Upper bounds (seconds) of the node duration histogram buckets."""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Prometheus text exposition format."""


class _AgenticCollector:
    """Collects every agentic metric at scrape time."""

    def __init__(self, db: Database, redis: redis_lib.Redis | None,
                 max_queue_size: int) -> None:
        self.db = db
        self.redis = redis
        self.max_queue_size = max_queue_size

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families (database first, then Redis)."""
        yield from self._database()
        yield from self._redis()

    def _database(self) -> Iterator[Metric]:
        with self.db.session() as s:
            jobs = s.exec(select(JobQueueEntry.priority, JobQueueEntry.status, func.count())
                          .group_by(JobQueueEntry.priority, JobQueueEntry.status)).all()
            executions = s.exec(select(WorkflowExecution.status, func.count())
                                .group_by(WorkflowExecution.status)).all()
            since = utcnow() - NODE_WINDOW
            nodes = s.exec(select(NodeExecution.node_type, NodeExecution.duration_ms)
                           .where(col(NodeExecution.finished_at) >= since,
                                  col(NodeExecution.duration_ms).is_not(None))
                           .order_by(col(NodeExecution.id).desc())
                           .limit(NODE_SAMPLE_LIMIT)).all()
        per_queue: dict[tuple[str, str], int] = defaultdict(int)
        depth = 0
        for priority, status, n in jobs:
            per_queue[(queue_for_priority(priority), status)] += n
            depth += n if status == "pending" else 0
        g = GaugeMetricFamily("agentic_queue_jobs", "job_queue rows per queue and status",
                              labels=["queue", "status"])
        for (queue, status), n in sorted(per_queue.items()):
            g.add_metric([queue, status], n)
        yield g
        yield GaugeMetricFamily("agentic_queue_depth", "pending jobs (what max_queue_size caps)",
                                value=depth)
        yield GaugeMetricFamily("agentic_queue_max_size", "QUEUE_CONFIG.max_queue_size",
                                value=self.max_queue_size)
        g = GaugeMetricFamily("agentic_executions", "workflow executions per status",
                              labels=["status"])
        for status, n in sorted(executions):
            g.add_metric([status], n)
        yield g
        yield _node_histogram(nodes)

    def _redis(self) -> Iterator[Metric]:
        up = 0
        if self.redis is not None:
            try:
                metrics = list(self._redis_metrics(self.redis))
                up = 1
                yield from metrics
            except (redis_lib.RedisError, OSError) as exc:
                log.warning("metrics scrape without Redis: %s", exc)
        yield GaugeMetricFamily("agentic_redis_up", "1 when Redis answered this scrape",
                                value=up)

    @staticmethod
    def _redis_metrics(redis: redis_lib.Redis) -> Iterator[Metric]:
        from rq import Queue, Worker

        g = GaugeMetricFamily("agentic_rq_queue_length", "RQ jobs waiting per RQ queue",
                              labels=["queue"])
        for name in QUEUE_NAMES:
            g.add_metric([name], Queue(name, connection=redis).count)
        yield g
        yield GaugeMetricFamily("agentic_rq_workers", "RQ workers registered",
                                value=len(Worker.all(connection=redis)))
        yield GaugeMetricFamily("agentic_scheduler_leader",
                                "1 while a scheduler process holds the leader lease",
                                value=1 if redis.exists(LEADER_KEY) else 0)
        tick = {k.decode(): v.decode() for k, v in redis.hgetall(TRIGGER_TICK_KEY).items()}
        for field, name, doc, scale in (
                ("duration_ms", "agentic_trigger_tick_duration_seconds",
                 "duration of the last market-trigger evaluation tick", 1e-3),
                ("triggers", "agentic_trigger_tick_triggers",
                 "price/indicator triggers evaluated in the last tick", 1.0),
                ("fires", "agentic_trigger_tick_fires", "fires of the last tick", 1.0),
                ("at", "agentic_trigger_tick_timestamp_seconds",
                 "unix time of the last tick", 1.0)):
            try:
                value = float(tick[field]) * scale
            except (KeyError, ValueError):
                continue
            yield GaugeMetricFamily(name, doc, value=value)


def _node_histogram(rows: list[tuple[str, float]]) -> HistogramMetricFamily:
    h = HistogramMetricFamily("agentic_node_duration_seconds",
                              f"node execution durations, finished in the last "
                              f"{int(NODE_WINDOW.total_seconds())} s", labels=["node_type"])
    by_type: dict[str, list[float]] = defaultdict(list)
    for node_type, ms in rows:
        by_type[node_type].append(ms / 1000.0)
    for node_type, values in sorted(by_type.items()):
        buckets = [(_bound(b), sum(1 for v in values if v <= b)) for b in DURATION_BUCKETS]
        buckets.append(("+Inf", len(values)))
        h.add_metric([node_type], buckets, sum_value=sum(values))
    return h


def _bound(value: float) -> str:
    return repr(float(value))


class MetricsService(Service):
    """The Prometheus scrape (admins only: the figures span all users)."""

    content_type = CONTENT_TYPE

    def render(self, actor: Actor) -> bytes:
        """The Prometheus text exposition of every agentic metric, computed now (blocking);
        ForbiddenError (403) for a user who is not an admin."""
        if not actor.is_admin:
            raise ForbiddenError("metrics are for admins", field="Authorization")
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_AgenticCollector(self.db, self._app.redis_or_none(),
                                            self.settings.queue_config.max_queue_size))
        return generate_latest(registry)
