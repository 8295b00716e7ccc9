"""RQ job functions (module top level, ids only) and the watch of running attempts.

``run_execution(job_id, attempt)`` claims the attempt (pending -> running; a stale or duplicate
RQ job does nothing), runs the workflow with the executor (events stored by
DatabaseEventSink and, after each commit, published on Redis by EventBus), keeps a heartbeat
and watches the cancel flag (one shared watcher thread per process), then records the outcome with
:func:`~agentic_app.engine.queue.attempts.finish_attempt` (retry, final status, slot freed,
next waiting job started). Its database handle, Redis clients, node registry and node
services come from :mod:`agentic_app.engine.runtime.clients` (configurable for tests).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from agentic_app.engine.events.bus import EventBus, publish_into
from agentic_app.engine.per_process import PerProcess
from agentic_app.engine.queue.attempts import claim_attempt, finish_attempt, heartbeat
from agentic_app.engine.queue.keys import WAITING_FLAG_TTL_S, cancel_key
from agentic_app.engine.queue.maintenance import HEARTBEAT_INTERVAL_S
from agentic_app.engine.runtime.clients import ProcessClients, node_registry, process_clients

log = logging.getLogger(__name__)

HALTED_ERROR = "cancelled: the kill switch is engaged (re-arm it to run)"
"""Error of an attempt claimed while its user's kill switch is engaged."""


CANCEL_POLL_S = 0.2
"""How often a running task checks its cancel flag in Redis."""
WATCH_LINGER_S = 1.0
"""How long the watcher thread keeps its regular poll going after its last attempt ended
before it sleeps until the next one: back-to-back executions then start no wake-up (and
no thread switch) each."""
WAITERS_TRUST_S = WAITING_FLAG_TTL_S / 2
"""How long the claim's "no job of this user is waiting" is trusted by the finish: a job
that starts waiting later raises the user's waiting flag, which lives
``WAITING_FLAG_TTL_S``; after a longer run the finish looks for a waiting job in SQL."""


class AttemptWatcher:
    """Cancel flag -> ``cancel_event`` and DB heartbeat for one running attempt.

    The polling is done by the process's one watcher thread (:class:`_WatchThread`), shared
    by every running attempt, so starting an attempt starts no thread.
    """

    def __init__(self, *, clients: ProcessClients, job_id: int, attempt: int,
                 cancel_event: threading.Event) -> None:
        self.clients = clients
        self.job_id = job_id
        self.attempt = attempt
        self.cancel_event = cancel_event
        self.next_beat = 0.0

    def start(self) -> None:
        """Begin polling (first heartbeat after ``HEARTBEAT_INTERVAL_S``)."""
        self.next_beat = time.monotonic() + HEARTBEAT_INTERVAL_S
        _watch_thread().add(self)

    def stop(self) -> None:
        """Stop polling for this attempt."""
        _watch_thread().discard(self)

    def beat(self) -> None:
        """Write this attempt's heartbeat; errors are logged, never raised."""
        try:
            heartbeat(db=self.clients.db, job_id=self.job_id, attempt=self.attempt)
        except Exception as exc:
            log.warning("heartbeat of job %s failed: %s", self.job_id, exc)


def poll_cancel_flags(watchers: list[AttemptWatcher]) -> None:
    """Set the cancel event of every watched attempt whose cancel flag is up: one MGET per
    set of clients (one per process); errors are logged, never raised."""
    by_clients: dict[int, list[AttemptWatcher]] = {}
    for watcher in watchers:
        by_clients.setdefault(id(watcher.clients), []).append(watcher)
    for group in by_clients.values():
        try:
            flags = group[0].clients.poll_redis.mget([cancel_key(w.job_id) for w in group])
        except Exception as exc:
            log.debug("cancel poll failed: %s", exc)
            continue
        for watcher, flag in zip(group, flags, strict=True):
            if flag is not None and int(flag) == watcher.attempt:
                watcher.cancel_event.set()


class _WatchThread:
    """The process's one thread polling every running attempt's cancel flag every
    ``CANCEL_POLL_S`` and writing heartbeats; it sleeps once no attempt has started for
    ``WATCH_LINGER_S``; recreated in a forked child."""

    def __init__(self) -> None:
        self.watchers: set[AttemptWatcher] = set()
        self.cond = threading.Condition()
        self.idle = True
        self.added_at = time.monotonic()
        self.thread = threading.Thread(target=self._run, name="attempt-watch", daemon=True)
        self.thread.start()

    def add(self, watcher: AttemptWatcher) -> None:
        """Watch ``watcher``'s attempt."""
        with self.cond:
            self.watchers.add(watcher)
            self.added_at = time.monotonic()  # attempts shorter than a poll count too
            if self.idle:  # else the next regular poll picks it up (no wake-up per attempt)
                self.cond.notify()

    def discard(self, watcher: AttemptWatcher) -> None:
        """Stop watching ``watcher``'s attempt."""
        with self.cond:
            self.watchers.discard(watcher)

    def _run(self) -> None:
        while True:
            with self.cond:
                if not self.watchers and time.monotonic() - self.added_at >= WATCH_LINGER_S:
                    self.idle = True
                    while not self.watchers:
                        self.cond.wait()
                self.idle = False
                self.cond.wait(CANCEL_POLL_S)
                current = list(self.watchers)
            now = time.monotonic()
            for watcher in current:  # heartbeats first: Redis trouble must not delay them
                if now >= watcher.next_beat:
                    watcher.next_beat = now + HEARTBEAT_INTERVAL_S
                    watcher.beat()
            poll_cancel_flags(current)


_watch_thread = PerProcess(_WatchThread).get
"""The process's watcher thread (see :class:`_WatchThread`)."""


def run_execution(job_id: int, attempt: int) -> str:
    """RQ job: run one attempt of job ``job_id``; returns the outcome (see finish_attempt).

    Events are held up to ``EVENT_HOLD_S`` (see DatabaseEventSink): those of a short
    execution are all stored in the finish transaction (claim + finish = two commits per
    execution), a long execution's are stored and published as it runs. Either way events
    are stored before they are published, and before the final status is written.
    """
    from agentic_app.domain.errors import RetryableError
    from agentic_app.engine.events.db_sink import EVENT_HOLD_S, DatabaseEventSink
    from agentic_app.engine.executor.runner import execute_sync

    clients = process_clients()
    settings = clients.settings
    claimed_at = time.monotonic()
    claimed = claim_attempt(db=clients.db, job_id=job_id, attempt=attempt,
                            worker_name=os.environ.get("RQ_WORKER_ID") or f"pid-{os.getpid()}")
    if claimed is None:
        log.info("job %s attempt %s: stale RQ job, nothing to do", job_id, attempt)
        return "stale"
    if claimed.halted:  # queued before the kill switch, or a retry (read by the claim)
        log.info("job %s attempt %s: the kill switch is engaged, cancelled", job_id, attempt)
        return finish_attempt(db=clients.db, redis=clients.redis, job_id=job_id,
                              attempt=attempt, status="cancelled", error=HALTED_ERROR,
                              settings=settings, known_state=claimed.state)
    cancel_event = threading.Event()
    watcher = AttemptWatcher(clients=clients, job_id=job_id, attempt=attempt,
                             cancel_event=cancel_event)
    watcher.start()
    sink = DatabaseEventSink(clients.db,
                             after_commit=EventBus(clients.redis).publisher(claimed.user_id),
                             hold_s=EVENT_HOLD_S)
    services = clients.node_services()
    if claimed.alert_only:  # order nodes record and alert their orders, nothing is traded
        from agentic_app.engine.alerts.orders import order_alert
        from agentic_app.engine.executor.node_services import alert_only_services

        services = alert_only_services(services, db=clients.db, send_alert=order_alert(
            clients.db, clients.redis, settings, getattr(claimed.state, "scheduled_job_id", None)))
    try:
        result = execute_sync(
            claimed.definition, registry=node_registry(), services=services,
            sink=sink, execution_id=claimed.execution_id, user_id=claimed.user_id,
            workflow_id=claimed.workflow_id, trigger_payload=claimed.trigger_payload,
            attempt=attempt, first_seq=claimed.first_seq,
            execution_timeout_s=float(settings.queue_config.job_timeout_seconds),
            memory_limit_mb=float(settings.limits.memory_limit_mb),
            cancel_event=cancel_event, flush_sink=False)
        status, error, retryable = result.status, result.error, result.error_retryable
        if result.error_type and error and not error.startswith(result.error_type):
            error = f"{result.error_type}: {error}"
    except Exception as exc:  # incl. RQ's JobTimeoutException (the queue's backstop)
        log.exception("job %s attempt %s crashed", job_id, attempt)
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        retryable = isinstance(exc, RetryableError) or "Timeout" in type(exc).__name__
    finally:
        watcher.stop()
    if status == "failed" and retryable:
        poll_cancel_flags([watcher])  # a cancel asked since the last poll ends the job too
        if cancel_event.is_set():
            status, error, retryable = "cancelled", f"cancelled while failing: {error}", False
    return _finish(sink, clients, job_id=job_id, attempt=attempt, user_id=claimed.user_id,
                   status=status, error=error, retryable=retryable, known_state=claimed.state,
                   waiters=claimed.waiters or time.monotonic() - claimed_at > WAITERS_TRUST_S)


def _finish(sink: Any, clients: ProcessClients, *, job_id: int, attempt: int, user_id: int,
            status: str, error: str | None, retryable: bool, known_state: Any = None,
            waiters: bool = True) -> str:
    """Store the attempt's remaining events with its end (one transaction), then publish
    them in the Redis transaction of the finish. Events already handed to the writer are
    committed (and published) first, so seq order holds; when the finish cannot take the
    events (stale attempt, failed transaction) they are stored on their own, before any
    retry of the finish."""
    held = sink.take_held()
    sink.flush()
    written: list[bool] = []
    sent: list[bool] = []

    def store_held(conn: Any) -> None:
        sink.write_in(conn, held)
        written.append(True)

    def held_in_statement() -> Any:
        part = sink.in_statement(held)
        if part is not None:
            written.append(True)  # the finish's statement stores them (or fails whole)
        return part

    def publish_held(pipe: Any) -> None:
        sent.append(True)  # called only once the finish is committed
        try:
            publish_into(pipe, held, user_id)
        except Exception:  # publishing is best effort (the stream catches up from the DB)
            log.exception("job %s attempt %s: events not published", job_id, attempt)

    finish = dict(db=clients.db, redis=clients.redis, job_id=job_id, attempt=attempt,
                  status=status, error=error, retryable=retryable, settings=clients.settings)
    try:
        outcome = finish_attempt(**finish, before_end=store_held if held else None,
                                    in_statement=held_in_statement if held else None,
                                    after_end=publish_held if held else None,
                                    known_state=known_state, waiters=waiters)
    except Exception:
        if not held or sent:  # nothing held, or the failure came after the commit
            raise
        log.warning("job %s attempt %s: finish with events failed; storing them alone",
                    job_id, attempt, exc_info=True)
        sink.store(held)
        return finish_attempt(**finish)
    if not written:
        sink.store(held)
    elif not sent:
        sink.published(held)
    return outcome
