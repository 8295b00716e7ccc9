"""Scheduler service entry point: ``python -m agentic_app scheduler``.

Any number of scheduler processes may run; exactly one is active, holding the
Redis lease ``agentic:scheduler:leader``. Standbys retry the lease and take over
within its TTL when the leader dies.
"""

from __future__ import annotations

import logging
import signal
import time

from agentic_app.engine.leader import RedisLease
from agentic_app.engine.redis_conn import connect

log = logging.getLogger(__name__)

LEADER_KEY = "agentic:scheduler:leader"
"""Redis key of the scheduler lease."""
LEASE_TTL_MS = 10_000
"""Lease lifetime; a standby takes over at most this long after the leader dies."""


def run_scheduler(redis_url: str, *, tick_seconds: float = 1.0,
                  max_ticks: int | None = None) -> None:
    """Hold (or wait for) the leader lease and run scheduler ticks while leader."""
    lease = RedisLease(connect(redis_url), LEADER_KEY, ttl_ms=LEASE_TTL_MS)
    stopping = False

    def _stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    leader = False
    ticks = 0
    try:
        while not stopping and (max_ticks is None or ticks < max_ticks):
            try:
                now_leader = lease.renew() if leader else lease.acquire()
            except Exception:  # Redis outage: stay alive, drop leadership, retry
                log.exception("scheduler lease check failed")
                now_leader = False
            if now_leader != leader:
                log.info("scheduler is now %s", "ACTIVE (leader)" if now_leader else "standby")
            leader = now_leader
            ticks += 1
            time.sleep(tick_seconds)
    finally:
        if leader:
            try:
                lease.release()
            except Exception:
                log.warning("could not release scheduler lease", exc_info=True)
