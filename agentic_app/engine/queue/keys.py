"""Redis keys, ids and reservation tokens of the queue (the names every module shares)."""

from __future__ import annotations

import secrets
import time

import redis as redis_lib

SLOTS_PREFIX = "agentic:q:slots:"
"""Redis set per user: ids of jobs holding a concurrency slot (dispatched, running, backoff)."""
DUE_KEY = "agentic:q:due"
"""Redis sorted set of retries waiting for their backoff: member ``job:attempt:priority``."""
CANCEL_PREFIX = "agentic:q:cancel:"
"""Redis key ``agentic:q:cancel:<job id>`` = attempt to cancel (polled by the running task)."""
CANCEL_FLAG_TTL_S = 3600
"""Lifetime of a cancel flag."""
RESERVATION_PREFIX = "r:"
"""Slot set members ``r:<epoch ms>:<random>``: a slot reserved by an enqueue not yet committed."""
RESERVATION_TTL_S = 60
"""A reservation older than this was left by a crashed enqueue; the reconciler drops it."""
WAITING_PREFIX = "agentic:q:waiting:"
"""Redis key ``agentic:q:waiting:<user>``: the user recently had jobs waiting for a slot."""
WAITING_FLAG_TTL_S = 300
"""Lifetime of a waiting flag (refreshed by every job that has to wait)."""
REDIS_ERRORS = (redis_lib.RedisError, OSError)
"""Errors of an unreachable Redis: state changes already committed stay; maintenance repairs."""


RQ_JOB_PREFIX = "agentic-"
"""How the RQ id of every attempt of a job starts (only :func:`rq_job_id` makes them)."""


def rq_job_id(job_id: int, attempt: int) -> str:
    """The RQ job id of one attempt of a job."""
    return f"{RQ_JOB_PREFIX}{job_id}-{attempt}"


def slots_key(user_id: int) -> str:
    """The Redis set of the user's slot holders."""
    return f"{SLOTS_PREFIX}{user_id}"


def cancel_key(job_id: int) -> str:
    """The Redis key of a job's cancel flag."""
    return f"{CANCEL_PREFIX}{job_id}"


def due_member(job_id: int, attempt: int, priority: int) -> str:
    """The member of :data:`DUE_KEY` for a retry waiting for its backoff."""
    return f"{job_id}:{attempt}:{priority}"


def waiting_key(user_id: int) -> str:
    """The Redis flag saying the user recently had jobs waiting for a slot."""
    return f"{WAITING_PREFIX}{user_id}"


def new_reservation() -> str:
    """A fresh reservation token (see :data:`RESERVATION_PREFIX`)."""
    return f"{RESERVATION_PREFIX}{int(time.time() * 1000)}:{secrets.token_hex(6)}"


def is_reservation(member: str) -> bool:
    """True for a slot set member that is an enqueue's reservation token, not a job id."""
    return member.startswith(RESERVATION_PREFIX)


def reservation_age_s(member: str, now: float | None = None) -> float:
    """Age in seconds of a reservation token (infinite when malformed)."""
    try:
        stamp_ms = int(member.split(":")[1])
    except (IndexError, ValueError):
        return float("inf")
    return (now if now is not None else time.time()) - stamp_ms / 1000
