"""The queue's limits: the write lock that makes the caps exact, the queue-size and daily
caps (checked in the database, one statement), and the per-user concurrency slot gate (a
Lua script on the user's Redis slot set)."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

import redis as redis_lib
import sqlalchemy as sa

from agentic_app.broker.safety import halted_subquery
from agentic_app.db import locks as db_locks
from agentic_app.db.models import ManualRetry, WorkflowExecution
from agentic_app.domain.errors import ConflictError, LimitExceededError
from agentic_app.domain.live_trading import KILL_SWITCH
from agentic_app.engine.queue.keys import (
    REDIS_ERRORS,
    WAITING_FLAG_TTL_S,
    new_reservation,
    slots_key,
    waiting_key,
)
from agentic_app.engine.queue.rows import PENDING_COUNT
from agentic_app.settings import Settings

log = logging.getLogger(__name__)

ENQUEUE_LOCK_KEY = 0x61674A51
"""PostgreSQL advisory lock (transaction level) serialising the limit checks + inserts of
enqueue and manual retry (exact caps); SQLite uses ``BEGIN IMMEDIATE`` instead."""

_GATE_LUA = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('SADD', KEYS[1], ARGV[1])
  return 1
end
return 0
"""
_FLAG_AND_GATE_LUA = "redis.call('SET', KEYS[2], 1, 'EX', ARGV[3])\n" + _GATE_LUA
"""The gate, after raising the user's waiting flag (KEYS[2]) in the same call: a job that
finds no slot is then seen by the next slot freed (see enqueue_execution)."""
_SHA = {script: hashlib.sha1(script.encode()).hexdigest()  # Redis script id
        for script in (_GATE_LUA, _FLAG_AND_GATE_LUA)}


def _run(redis: redis_lib.Redis, script: str, numkeys: int, *args: Any) -> Any:
    """Run a gate script by its SHA1 (EVALSHA: the script text is sent only when this Redis
    has not cached it yet, e.g. after a restart or SCRIPT FLUSH)."""
    try:
        return redis.evalsha(_SHA[script], numkeys, *args)
    except redis_lib.exceptions.NoScriptError:
        return redis.eval(script, numkeys, *args)  # EVAL caches it for the next EVALSHA

_EX = WorkflowExecution.__table__
_MR = ManualRetry.__table__
CAP_COLUMNS = (
    PENDING_COUNT.scalar_subquery().label("queued"),
    (sa.select(sa.func.count()).select_from(_EX).where(
        _EX.c.user_id == sa.bindparam("user_id"),
        _EX.c.created_at >= sa.bindparam("since", type_=_EX.c.created_at.type))
     .scalar_subquery()
     + sa.select(sa.func.count()).select_from(_MR).where(
         _MR.c.user_id == sa.bindparam("user_id"),
         _MR.c.created_at >= sa.bindparam("since", type_=_MR.c.created_at.type))
     .scalar_subquery()).label("today"),
    halted_subquery(sa.bindparam("user_id")).label("halted"))
"""Columns for one statement (parameters ``user_id``, ``since``: the day's start): the
pending jobs (what max_queue_size caps), the runs the user started today (executions
created plus manual retries, each one counts) and whether the user's kill switch is
engaged. Enqueue reads them with the workflow's owner; see :func:`check_limits`."""
_SQL_CAPS = sa.select(*CAP_COLUMNS)


def day_start(now: datetime) -> datetime:
    """00:00 UTC of ``now``'s day: where the daily cap's count starts (``since``)."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def lock_writes(s: Any) -> None:
    """Make this fresh session's (or Core connection's) transaction hold the database's
    write lock from now on, so limit checks and the inserts they allow are serialised
    across processes."""
    db_locks.lock_writes(s, ENQUEUE_LOCK_KEY)


def check_caps(conn: sa.Connection, settings: Settings, user_id: int, now: datetime) -> None:
    """The kill switch and the caps, read in one statement (see :func:`check_limits`)."""
    check_limits(conn.execute(_SQL_CAPS, {"user_id": user_id, "since": day_start(now)}).one(),
                 settings, user_id)


def check_limits(row: Any, settings: Settings, user_id: int) -> None:
    """Raise for a row of :data:`CAP_COLUMNS`: ConflictError (409) while the user's kill
    switch is engaged; LimitExceededError with ``limit="max_queue_size"`` when the pending
    jobs fill the queue, else with ``limit="max_executions_per_day"`` when the user's
    executions created plus manual retries made since 00:00 UTC reached the cap."""
    if row.halted:
        raise_halted()
    queued, today = row.queued, row.today
    cap = settings.queue_config.max_queue_size
    if queued >= cap:
        raise LimitExceededError(f"the queue is full ({queued} of {cap} jobs pending)",
                                 limit="max_queue_size")
    daily = settings.limits.max_executions_per_day
    if today >= daily:
        raise LimitExceededError(
            f"user {user_id} reached {daily} executions today (UTC); try again after midnight",
            limit="max_executions_per_day")


def raise_halted() -> None:
    """The ConflictError (409) of a run refused because the kill switch is engaged."""
    raise ConflictError("the kill switch is engaged: no run starts until it is re-armed",
                        field=KILL_SWITCH)


def reserve_slot(redis: redis_lib.Redis, user_id: int, cap: int) -> str | None:
    """Reserve one of the user's slots under a fresh token; None when full or Redis is down."""
    token = new_reservation()
    try:
        return token if _run(redis, _GATE_LUA, 1, slots_key(user_id), token, cap) else None
    except REDIS_ERRORS:
        log.warning("no slot reserved for user %s (Redis error)", user_id, exc_info=True)
        return None


def take_slot(redis: redis_lib.Redis, user_id: int, job_id: int, cap: int, *,
              flag_waiting: bool = False) -> bool:
    """Give ``job_id`` one of the user's ``cap`` slots (True also when it holds one already).
    ``flag_waiting``: raise the user's waiting flag first, in the same call."""
    if flag_waiting:
        return bool(_run(redis, _FLAG_AND_GATE_LUA, 2, slots_key(user_id),
                         waiting_key(user_id), str(job_id), cap, WAITING_FLAG_TTL_S))
    return bool(_run(redis, _GATE_LUA, 1, slots_key(user_id), str(job_id), cap))
