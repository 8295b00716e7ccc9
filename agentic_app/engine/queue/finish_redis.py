"""The Redis side of a committed finish, in one MULTI/EXEC: the attempt's last events
published, its cancel flag dropped, then a retry's due entry, or its slot handed to the
user's next waiting job (the heir, pushed to RQ in the same transaction) or freed.

In a worker that runs jobs in its own process (``AgenticSimpleWorker``) that round trip is
not a round trip of its own: the finish runs inside RQ's ``perform_job``, which ends with
RQ's success pipeline a moment later, so the commands are held (:func:`held_steps`) and go
out in that pipeline (:func:`join`). Everywhere else (maintenance, cancel, a work-horse)
they go out at once. A held step that no success pipeline takes (the job failed after its
finish) goes out when ``perform_job`` ends."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import redis as redis_lib

from agentic_app.db.engine import Database
from agentic_app.engine.queue.dispatch import dispatch_waiting
from agentic_app.engine.queue.keys import (
    DUE_KEY,
    REDIS_ERRORS,
    cancel_key,
    due_member,
    slots_key,
    waiting_key,
)
from agentic_app.engine.queue.rq_jobs import enqueue_rq, transaction
from agentic_app.settings import Settings

log = logging.getLogger(__name__)

_Step = tuple[Any, Callable[[list[Any]], None]]
"""A finish's Redis step: its pipeline (commands queued, not sent) and what to do with the
pipeline's results."""


class _Held:
    """The steps held for the success pipeline of the job running on ``redis``; ``open``
    until the job's ``perform_job`` ends (a step that comes later goes out at once)."""

    __slots__ = ("open", "redis", "steps")

    def __init__(self, redis: redis_lib.Redis) -> None:
        self.redis = redis
        self.steps: list[_Step] = []
        self.open = True


_holder: ContextVar[_Held | None] = ContextVar("finish_redis_holder", default=None)


def after_finish(redis: redis_lib.Redis, *, job_id: int, attempt: int, user_id: int,
                 priority: int, retry: bool, delay: int, heir: Any, db: Database,
                 settings: Settings, extra: Callable[[Any], None] | None = None) -> None:
    """Redis side of a committed finish, one MULTI/EXEC (sent now, or held for the worker's
    success pipeline): ``extra(pipe)``'s commands; cancel flag dropped; a retry waits in
    :data:`DUE_KEY`; otherwise the slot goes to ``heir`` (swap + RQ push) or is freed - and
    if the user has waiting jobs committed after the finish, they are dispatched."""
    key = slots_key(user_id)
    pipe = transaction(redis)
    if extra is not None:
        extra(pipe)
    pipe.delete(cancel_key(job_id))
    if retry:
        pipe.zadd(DUE_KEY, {due_member(job_id, attempt + 1, priority): time.time() + delay})
    else:
        pipe.srem(key, str(job_id))
        if heir is not None:
            pipe.sadd(key, str(heir.id))
            enqueue_rq(redis, job_id=heir.id, attempt=heir.attempt, priority=heir.priority,
                       settings=settings, pipeline=pipe)
        else:
            pipe.exists(waiting_key(user_id))
    follow_up = not retry and heir is None

    def done(results: list[Any]) -> None:
        if follow_up and results[-1]:
            dispatch_waiting(db=db, redis=redis, user_id=user_id, settings=settings)

    held = _holder.get()
    if held is not None and held.open and same_server(held.redis, redis):
        held.steps.append((pipe, done))
        return
    done(pipe.execute())


_SERVER_KWARGS = ("host", "port", "path", "db", "username")
"""Connection arguments that name a Redis server and database."""


def same_server(a: redis_lib.Redis, b: redis_lib.Redis) -> bool:
    """Whether clients ``a`` and ``b`` talk to the same Redis server and database (a
    worker's own client and its tasks' client are two clients of one URL)."""
    if a is b:
        return True
    ka, kb = a.connection_pool.connection_kwargs, b.connection_pool.connection_kwargs
    return (a.connection_pool.connection_class is b.connection_pool.connection_class
            and all(ka.get(k) == kb.get(k) for k in _SERVER_KWARGS))


@contextmanager
def held_steps(redis: redis_lib.Redis) -> Iterator[None]:
    """While inside, the Redis steps of finishes on ``redis`` wait for :func:`join`; those
    still held on the way out are sent then, one transaction each (errors logged:
    maintenance repairs slots and dispatch)."""
    held = _Held(redis)
    token = _holder.set(held)
    try:
        yield
    finally:
        _holder.reset(token)
        held.open = False
        steps, held.steps = held.steps, []
        for pipe, done in steps:
            _settle_step(done, lambda pipe=pipe: pipe.execute())


def _settle_step(done: Callable[[list[Any]], None], results: Callable[[], list[Any]]) -> None:
    """Run one step's follow-up on its ``results()``; any error is logged, never raised (the
    job's outcome is committed already; maintenance repairs slots and dispatch)."""
    try:
        done(results())
    except REDIS_ERRORS:
        log.warning("Redis error in a finish's Redis step (maintenance repairs)",
                    exc_info=True)
    except Exception:
        log.exception("finish's Redis step failed (maintenance repairs)")


def join(pipeline: Any) -> Callable[[list[Any]], None]:
    """Copy the held steps' commands onto ``pipeline`` (a MULTI/EXEC pipeline not yet
    sent: the worker's success pipeline). Returns ``settle(results)``, to call with the
    pipeline's results, executed with ``raise_on_error=False``: it runs each step's
    follow-up, logs a step whose commands failed, and raises the first error among the
    other commands (as ``execute()`` would have). The steps stay held until ``settle``
    runs: when the pipeline cannot be sent, they go out on their own as the job ends."""
    held = _holder.get()
    steps = list(held.steps) if held is not None else []
    parts: list[tuple[int, int, Callable[[list[Any]], None]]] = []
    for pipe, done in steps:
        start = len(pipeline.command_stack)
        for args, options in pipe.command_stack:
            pipeline.execute_command(*args, **options)
        parts.append((start, len(pipeline.command_stack), done))

    def settle(results: list[Any]) -> None:
        if held is not None:
            joined = {id(step) for step in steps}
            held.steps = [step for step in held.steps if id(step) not in joined]
        for start, end, done in parts:
            part = results[start:end]
            failed = next((r for r in part if isinstance(r, Exception)), None)
            if failed is not None:
                log.warning("finish's Redis step failed (maintenance repairs): %s", failed)
                continue
            _settle_step(done, lambda part=part: part)
        ours = {i for start, end, _ in parts for i in range(start, end)}
        failed = next((r for i, r in enumerate(results)
                       if i not in ours and isinstance(r, Exception)), None)
        if failed is not None:
            raise failed

    return settle
