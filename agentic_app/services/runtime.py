"""Local runtime: what ``reflex run`` brings up besides the web app.

On backend start: find or start Redis, apply migrations, seed the demo data
(local mode), and — when ``START_LOCAL_SERVICES`` is on (default in local mode) —
start the supervisor that runs the RQ workers and the scheduler as children.
Only one backend process per Redis runs the supervisor (a Redis lease), so several
Reflex backend workers do not start several pools; every process checks the lease every
few seconds, so another one takes over when the holder dies, and a holder that lost the
lease stops its supervisor.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from dataclasses import dataclass, field

from agentic_app.db.migrate import upgrade_to_head
from agentic_app.engine.leader import RedisLease
from agentic_app.engine.redis_conn import connect
from agentic_app.engine.runtime.local_redis import ensure_redis, find_redis
from agentic_app.engine.runtime.supervisor import child_preexec, python_module_argv
from agentic_app.settings import Settings

log = logging.getLogger(__name__)

RUNTIME_LEASE_KEY = "agentic:local-runtime"
"""Lease held by the one backend process that supervises workers and scheduler."""
RUNTIME_LEASE_TTL_MS = 15_000
"""The runtime lease expires this long after its holder stopped renewing it."""
RUNTIME_LEASE_CHECK_S = 5.0
"""How often every backend process checks the runtime lease (renew or take over)."""
SETUP_LOCK_KEY = "agentic:local-setup"
"""Lock serialising migrate + seed between backend workers starting at once."""
SETUP_LOCK_S = 120
"""Longest a migrate + seed may hold (and be waited for on) the setup lock."""


def effective_redis_url(settings: Settings) -> str | None:
    """The Redis URL in use: the configured one, or the private one in the data dir."""
    return find_redis(settings.redis_url, settings.data_dir)


@dataclass
class LocalRuntime:
    """Starts and stops the processes a local ``reflex run`` needs."""

    settings: Settings
    redis_url: str | None = None
    redis_child: subprocess.Popen | None = None
    supervisor: subprocess.Popen | None = None
    lease: RedisLease | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _free_rounds: int = 0
    _renewer: threading.Thread | None = None

    def start(self) -> None:
        """Bring up Redis, the schema, demo data and the supervised children."""
        s = self.settings
        self.redis_url, self.redis_child = ensure_redis(
            s.redis_url, s.data_dir, daemonize=False, allow_start=s.is_local)
        os.environ["REDIS_URL"] = self.redis_url  # children and later imports use the same Redis
        # several backend workers (state in Redis) start together: one at a time migrates and
        # seeds, the next ones find it done (both are idempotent, not concurrency-safe)
        with connect(self.redis_url).lock(SETUP_LOCK_KEY, timeout=SETUP_LOCK_S,
                                          blocking_timeout=SETUP_LOCK_S):
            upgrade_to_head(s.database_url, s.data_dir)
            if s.is_local:
                from agentic_app.services.demo import seed_demo

                seed_demo(s)
        if s.start_local_services:
            self._start_supervisor()

    def _start_supervisor(self) -> None:
        self.lease = RedisLease(connect(self.redis_url), RUNTIME_LEASE_KEY,
                                ttl_ms=RUNTIME_LEASE_TTL_MS)
        self.check_lease(eager=True)
        if self.supervisor is None:
            log.info("another backend process runs the workers and scheduler")
        self._renewer = threading.Thread(target=self._lease_loop, name="runtime-lease",
                                         daemon=True)
        self._renewer.start()

    def _lease_loop(self) -> None:
        while not self._stop.wait(RUNTIME_LEASE_CHECK_S):
            try:
                self.check_lease()
            except Exception:
                log.warning("runtime lease check failed", exc_info=True)

    def check_lease(self, *, eager: bool = False) -> None:
        """One round of the lease (every ``RUNTIME_LEASE_CHECK_S``, under a lock shared with
        :meth:`stop`): the holder renews it (or takes it back if it vanished, e.g. Redis
        restarted empty) and keeps its supervisor running, restarting it if it exited; a
        holder that lost the lease to another process stops its supervisor; a process
        without the lease takes it once it has been free for two rounds in a row (the
        holder, which checks every round, gets the first chance to take it back), or at
        once with ``eager`` (start-up)."""
        with self._lock:
            if self._stop.is_set() or self.lease is None:
                return
            if self.supervisor is not None:  # we hold (or held) the lease
                if self.lease.renew() or self.lease.acquire():
                    if self.supervisor.poll() is not None:
                        log.warning("supervisor exited with %s; starting it again",
                                    self.supervisor.poll())
                        self.supervisor = self._spawn_supervisor()
                    return
                log.warning("runtime lease lost to another backend process; stopping ours")
                self._terminate(self.supervisor)
                self.supervisor = None
                return
            free = self.lease.holder() is None
            self._free_rounds = self._free_rounds + 1 if free else 0
            if (eager or self._free_rounds >= 2) and self.lease.acquire():
                self._free_rounds = 0
                self.supervisor = self._spawn_supervisor()

    def _spawn_supervisor(self) -> subprocess.Popen:
        """Start the supervisor of the workers and the scheduler."""
        argv = python_module_argv("agentic_app", "supervise",
                                  "--workers", str(self.settings.worker_processes), "--scheduler")
        env = dict(os.environ, REDIS_URL=self.redis_url)
        proc = subprocess.Popen(argv, env=env, preexec_fn=child_preexec)
        log.info("started supervisor pid %s (%s workers + scheduler)",
                 proc.pid, self.settings.worker_processes)
        return proc

    @staticmethod
    def _terminate(proc: subprocess.Popen | None) -> None:
        """SIGTERM ``proc`` and wait (SIGKILL after 15 s)."""
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        """Stop the supervisor (and its children) and a private Redis we started."""
        self._stop.set()
        with self._lock:  # no lease round spawns a supervisor behind our back
            for proc in (self.supervisor, self.redis_child):
                self._terminate(proc)
            if self.lease is not None and self.supervisor is not None:
                try:
                    self.lease.release()
                except Exception:
                    pass
