"""Queue maintenance: makes Redis agree with the database again after crashes and outages.

Every worker process runs :class:`MaintenanceThread`: every ``DUE_POLL_INTERVAL_S`` it moves
retries whose backoff is over onto RQ (:func:`~.retry.pop_due_retries`, atomic, so several
workers never move one twice), and every ``RECONCILE_INTERVAL_S`` the one worker holding the
short Redis lock :data:`RECONCILE_LOCK` runs :func:`reconcile`:

1. **dead attempts** - running rows whose heartbeat (written by the task every
   ``HEARTBEAT_INTERVAL_S``) is older than ``STALE_AFTER_S``: the work-horse or worker died
   (SIGKILL, OOM, power). The attempt fails as *retryable* (it counts as an attempt) and is
   retried after its backoff, so a dead attempt is detected within ~13 s and retried at once.
2. **lost RQ jobs** - pending rows marked dispatched whose RQ job is neither in Redis nor in
   the retry set (Redis restarted without persistence, or a crash between commit and push),
   or has ended without claiming the attempt (its claim failed, e.g. the database was
   unreachable): pushed again. Duplicates are harmless: an attempt is claimed once
   (conditional UPDATE).
3. **slots** - each user's slot set is made to hold exactly the jobs the database says hold a
   slot (running, dispatched, in backoff): lost members are restored, finished ones removed,
   and reservation tokens of enqueues that crashed before their commit (older than
   ``keys.RESERVATION_TTL_S``) dropped.
4. **waiting jobs** - every user with waiting jobs gets :func:`~.dispatch.dispatch_waiting`
   (the event-driven path does this at once; this is the backstop).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import redis as redis_lib
from sqlmodel import col, func, or_, select

from agentic_app.db.engine import Database, fork_barrier
from agentic_app.db.models import JobQueueEntry, JobStatus, utcnow
from agentic_app.engine.queue.attempts import finish_attempt
from agentic_app.engine.queue.dispatch import dispatch_waiting
from agentic_app.engine.queue.keys import (
    DUE_KEY,
    RESERVATION_TTL_S,
    SLOTS_PREFIX,
    due_member,
    is_reservation,
    reservation_age_s,
    slots_key,
)
from agentic_app.engine.queue.retry import pop_due_retries
from agentic_app.engine.queue.rows import TERMINAL, get_job
from agentic_app.engine.queue.rq_jobs import enqueue_rq
from agentic_app.settings import Settings, get_settings

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 2.0
"""How often a running task records its heartbeat (job_queue.heartbeat_at)."""
STALE_AFTER_S = 10.0
"""A running attempt without a heartbeat for this long is declared dead."""
RECONCILE_INTERVAL_S = 3.0
"""How often (cluster-wide, one worker at a time) :func:`reconcile` runs."""
DUE_POLL_INTERVAL_S = 0.25
"""How often each worker checks for retries whose backoff is over."""
RQ_ENDED = frozenset({"finished", "failed", "stopped", "canceled"})
"""RQ job states after which the job will not run again by itself."""
LOST_CHECK_BATCH = 500
"""Dispatched pending jobs whose Redis side is read in one pipeline by the lost-job check."""
RECONCILE_LOCK = "agentic:q:lock:reconcile"
"""Redis key held (SET NX PX) by the worker running a reconcile pass."""


def reconcile(*, db: Database, redis: redis_lib.Redis,
              settings: Settings | None = None) -> dict[str, int]:
    """One maintenance pass (see the module docstring); returns counts of what it fixed."""
    settings = settings or get_settings()
    counts = {"dead": 0, "requeued": 0, "slots_restored": 0, "slots_freed": 0,
              "dispatched": 0}
    counts["dead"] = _retry_dead_attempts(db, redis, settings)
    counts["requeued"] = _requeue_lost(db, redis, settings)
    restored, freed = _repair_slots(db, redis)
    counts["slots_restored"], counts["slots_freed"] = restored, freed
    with db.session() as s:
        users = s.exec(select(JobQueueEntry.user_id).distinct().where(
            JobQueueEntry.status == JobStatus.pending.value,
            col(JobQueueEntry.rq_job_id).is_(None))).all()
    for user_id in users:
        counts["dispatched"] += dispatch_waiting(db=db, redis=redis, user_id=user_id,
                                                 settings=settings)
    if any(counts.values()):
        log.info("queue reconcile: %s", counts)
    return counts


def _retry_dead_attempts(db: Database, redis: redis_lib.Redis, settings: Settings) -> int:
    cutoff = utcnow() - timedelta(seconds=STALE_AFTER_S)
    with db.session() as s:
        rows = s.exec(select(JobQueueEntry.id, JobQueueEntry.attempt, JobQueueEntry.worker_name)
                      .where(JobQueueEntry.status == JobStatus.running.value,
                             func.coalesce(JobQueueEntry.heartbeat_at,
                                           JobQueueEntry.started_at) < cutoff)).all()
    dead = 0
    for job_id, attempt, worker in rows:
        outcome = finish_attempt(
            db=db, redis=redis, job_id=job_id, attempt=attempt,
            status=JobStatus.failed.value, retryable=True, settings=settings,
            error=(f"attempt {attempt} lost: no heartbeat for {STALE_AFTER_S:g} s "
                   f"(worker {worker or '?'} died)"))
        dead += outcome != "stale"
    return dead


def _rq_states(redis: redis_lib.Redis, rows: list[Any]) -> Iterator[tuple[Any, Any, Any]]:
    """(row, its retry-set score, its RQ job's status) for each dispatched pending row, read
    in pipelines of ``LOST_CHECK_BATCH`` rows: one round trip per batch, not two per job (a
    backlog of thousands of queued jobs is checked every pass, in a worker process)."""
    for start in range(0, len(rows), LOST_CHECK_BATCH):
        batch = rows[start:start + LOST_CHECK_BATCH]
        pipe = redis.pipeline(transaction=False)
        for job in batch:
            pipe.zscore(DUE_KEY, due_member(job.id, job.attempt, job.priority))
            pipe.hget(f"rq:job:{job.rq_job_id}", "status")
        answers = pipe.execute()
        yield from zip(batch, answers[0::2], answers[1::2], strict=True)


def _requeue_lost(db: Database, redis: redis_lib.Redis, settings: Settings) -> int:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.serializers import JSONSerializer

    due_before = utcnow() - timedelta(seconds=1)
    with db.session() as s:
        rows = s.exec(select(JobQueueEntry.id, JobQueueEntry.attempt, JobQueueEntry.priority,
                             JobQueueEntry.rq_job_id, JobQueueEntry.user_id).where(
            JobQueueEntry.status == JobStatus.pending.value,
            col(JobQueueEntry.rq_job_id).is_not(None),
            or_(col(JobQueueEntry.next_attempt_at).is_(None),
                col(JobQueueEntry.next_attempt_at) < due_before))).all()
    requeued = 0
    for job, due, state in _rq_states(redis, rows):
        if due:
            continue
        if state is not None and state.decode() not in RQ_ENDED:
            continue  # queued, started, deferred: it will run
        current = get_job(db, job.id)  # the list may be stale: ran meanwhile?
        if (current.status, current.attempt, current.rq_job_id) != (
                JobStatus.pending.value, job.attempt, job.rq_job_id):
            continue
        if state is not None:  # ended without claiming its attempt (e.g. the claim failed)
            try:
                Job.fetch(job.rq_job_id, connection=redis, serializer=JSONSerializer).delete()
            except NoSuchJobError:
                pass
        redis.sadd(slots_key(job.user_id), str(job.id))
        enqueue_rq(redis, job_id=job.id, attempt=job.attempt, priority=job.priority,
                   settings=settings)
        requeued += 1
    return requeued


def _repair_slots(db: Database, redis: redis_lib.Redis) -> tuple[int, int]:
    with db.session() as s:
        holders = s.exec(select(JobQueueEntry.user_id, JobQueueEntry.id).where(or_(
            JobQueueEntry.status == JobStatus.running.value,
            (JobQueueEntry.status == JobStatus.pending.value)
            & col(JobQueueEntry.rq_job_id).is_not(None)))).all()
    by_user: dict[int, set[str]] = {}
    for user_id, job_id in holders:
        by_user.setdefault(user_id, set()).add(str(job_id))
    restored = 0
    for user_id, ids in by_user.items():
        restored += redis.sadd(slots_key(user_id), *ids)
    freed = 0
    for key in redis.scan_iter(match=f"{SLOTS_PREFIX}*", count=200):
        members = [m.decode() for m in redis.smembers(key)]
        expired = {m for m in members if is_reservation(m)
                   and reservation_age_s(m) > RESERVATION_TTL_S}
        ids = [int(m) for m in members if m.isdigit()]
        gone = set(expired)
        if ids:
            with db.session() as s:
                done = s.exec(select(JobQueueEntry.id).where(
                    col(JobQueueEntry.id).in_(ids),
                    col(JobQueueEntry.status).in_(TERMINAL))).all()
                known = set(s.exec(select(JobQueueEntry.id).where(
                    col(JobQueueEntry.id).in_(ids))).all())
            gone |= {str(i) for i in done} | {str(i) for i in ids if i not in known}
        if gone:
            freed += redis.srem(key, *gone)
    return restored, freed


class MaintenanceThread(threading.Thread):
    """Daemon thread of a worker process: due retries and (under a lock) reconcile passes.

    Redis or database errors are logged and the loop goes on (an outage must not kill it).
    """

    def __init__(self, *, db: Database, redis_url: str, settings: Settings | None = None,
                 name: str = "queue-maintenance") -> None:
        super().__init__(name=name, daemon=True)
        self.db = db
        self.redis_url = redis_url
        self.settings = settings or get_settings()
        self.stopped = threading.Event()
        self.passes = 0

    def stop(self) -> None:
        """Ask the loop to end."""
        self.stopped.set()

    def run(self) -> None:
        """Loop until stopped."""
        from agentic_app.engine.redis_conn import connect

        redis = connect(self.redis_url)
        last_reconcile = 0.0
        import time

        while not self.stopped.wait(DUE_POLL_INTERVAL_S):
            try:
                pop_due_retries(redis=redis, settings=self.settings)
                now = time.monotonic()
                if now - last_reconcile >= RECONCILE_INTERVAL_S:
                    last_reconcile = now
                    self._reconcile_if_leader(redis)
            except Exception as exc:  # keep maintaining through outages
                log.warning("queue maintenance error: %s: %s", type(exc).__name__, exc)

    def _reconcile_if_leader(self, redis: Any) -> None:
        token = f"{self.name}-{id(self)}"
        if not redis.set(RECONCILE_LOCK, token, nx=True,
                         px=int(RECONCILE_INTERVAL_S * 1000 * 0.9)):
            return
        with fork_barrier():  # a work-horse forked mid-transaction could never write
            reconcile(db=self.db, redis=redis, settings=self.settings)
        self.passes += 1
