"""Warm a worker process before it forks work-horses.

A forking worker runs each job in a fresh child that inherits the parent's memory and loses,
when it exits, whatever it loaded itself. Measured on the benchmark machine, a horse of a
cold parent spent about 17 ms importing the executor, the event sink and psutil and about
12 ms compiling SQL statements - more than the whole execution. :func:`prime` does both once
in the parent:

* imports every module an attempt imports, loads the process settings (~7 ms of pydantic
  per horse otherwise) and the C library handle of the memory limit (~4 ms: ``ldconfig``);
* compiles the statements an attempt runs by running one synthetic job - a user, workflow,
  scheduled job, execution and job created; attempt 1 claimed, its executor events stored
  with its end, failed with a retry; attempt 2 claimed, some events stored early and the
  rest with its end, completed - inside a transaction that is always rolled back. Nothing
  is kept, and each statement is compiled with exactly the parameters real attempts bind
  (SQLAlchemy's cache key includes the parameter names).

Statements of node services (paper broker, market data) are compiled on first use.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import sqlalchemy as sa

from agentic_app.engine.runtime.clients import ProcessClients, node_registry, process_clients

log = logging.getLogger(__name__)

PRIME_WORKFLOW = {
    "nodes": [{"id": "wait", "type": "delay", "params": {"seconds": 0}},
              {"id": "then", "type": "delay", "params": {"seconds": 0}}],
    "edges": [{"from": "wait", "to": "then"}],
}
"""The synthetic attempt's workflow: async nodes only (no thread is left in the parent)."""


def warm_up() -> None:
    """Import node types, build this process's node services and prime its statement cache
    now (a forking worker does this before forking, so each work-horse starts ready)."""
    clients = process_clients()
    node_registry()
    clients.node_services()
    prime(clients)


def prime(clients: ProcessClients) -> bool:
    """Import what an attempt needs and compile its SQL on ``clients.db``; False (logged)
    when the priming transaction failed (horses then compile on first use). Also loads the
    process settings and the C library handle the memory limit uses."""
    import agentic_app.domain.errors
    import agentic_app.engine.events.bus
    import agentic_app.engine.events.db_sink
    import agentic_app.engine.executor.runner
    import agentic_app.engine.runtime.tasks  # noqa: F401  (RQ imports the job function's module)
    from agentic_app.engine.executor import memory_guard
    from agentic_app.settings import get_settings

    memory_guard.preload()
    get_settings()  # a task reads the process settings: load them before forking

    try:
        with clients.db.engine.connect() as conn:
            trans = conn.begin()
            try:
                _synthetic_attempts(conn, clients)
            finally:
                trans.rollback()
        return True
    except Exception:
        log.warning("statement priming failed; work-horses compile on first use",
                    exc_info=True)
        return False


def _synthetic_attempts(conn: sa.Connection, clients: ProcessClients) -> None:
    """Create, claim, retry and complete one job in ``conn``'s transaction."""
    from agentic_app.db.models import ScheduledJob, User, Workflow, utcnow
    from agentic_app.engine.events.db_sink import DatabaseEventSink
    from agentic_app.engine.events.pg_rows import NEW_ROWS_CTES, new_rows_params
    from agentic_app.engine.queue.attempts import claim_attempt, finish_attempt, heartbeat
    from agentic_app.engine.queue.dispatch import take_next_waiting
    from agentic_app.engine.queue.enqueue import insert_job
    from agentic_app.engine.queue.finish_sql import compile_finishes
    from agentic_app.engine.queue.rows import inside

    db, settings = clients.db, clients.settings
    uncapped = settings.model_copy(update={
        "queue_config": settings.queue_config.model_copy(update={"max_queue_size": 1 << 30}),
        "limits": settings.limits.model_copy(update={"max_executions_per_day": 1 << 30})})
    now = utcnow()
    user_id = _insert(conn, User, username=f"__prime-{secrets.token_hex(8)}",
                      password_hash="!", is_active=False, is_admin=False, created_at=now)
    workflow_id = _insert(conn, Workflow, user_id=user_id, name="prime", description="",
                          definition=PRIME_WORKFLOW, version=1, is_active=True,
                          created_at=now, updated_at=now)
    scheduled_id = _insert(conn, ScheduledJob, workflow_id=workflow_id, user_id=user_id,
                           name="prime", trigger_type="cron", trigger_config={},
                           is_active=True, consecutive_failures=0, run_count=0,
                           created_at=now, updated_at=now)
    job = insert_job(conn, uncapped, workflow_id=workflow_id, user_id=user_id,
                     trigger_type="cron", trigger_payload={}, priority=0,
                     scheduled_job_id=scheduled_id, dedupe_key=None, dispatched=True)
    with inside(conn):
        for attempt, status in ((1, "failed"), (2, "completed")):
            claimed = claim_attempt(db=db, job_id=job.id, attempt=attempt, worker_name="prime")
            if claimed is None:
                raise RuntimeError("synthetic claim failed")
            heartbeat(db=db, job_id=job.id, attempt=attempt)
            events = _run_events(claimed)
            sink = DatabaseEventSink(db)
            if attempt == 2:  # a long attempt's events: stored as they come, rest at the end
                sink.write_in(conn, events[:2])
                events = events[2:]
            # the first attempt's events go in the finish's own statement (PostgreSQL)
            finish_attempt(db=db, redis=None, job_id=job.id, attempt=attempt, status=status,
                           error="primed", retryable=True, settings=uncapped,
                           known_state=claimed.state if attempt == 1 else None,
                           before_end=lambda c, ev=events, sk=sink: sk.write_in(c, ev),
                           in_statement=(lambda ev=events, sk=sink: sk.in_statement(ev))
                           if attempt == 1 else None)
    take_next_waiting(conn, user_id)
    compile_finishes(conn, NEW_ROWS_CTES, new_rows_params([], [], []))


def _insert(conn: sa.Connection, model: Any, **values: Any) -> int:
    return conn.execute(sa.insert(model.__table__).values(**values)).inserted_primary_key[0]


def _run_events(claimed: Any) -> list:
    """The events the executor emits for the synthetic workflow (collected, not stored)."""
    from agentic_app.engine.executor.runner import execute_sync

    events: list = []

    class _Collect:
        def emit(self, event: Any) -> None:
            events.append(event)

    execute_sync(claimed.definition, registry=node_registry(), sink=_Collect(),
                 execution_id=claimed.execution_id, user_id=claimed.user_id,
                 workflow_id=claimed.workflow_id, attempt=claimed.attempt,
                 first_seq=claimed.first_seq, flush_sink=False)
    return events
