"""Local runtime: what ``reflex run`` brings up besides the web app.

On backend start: find or start Redis, apply migrations, seed the demo data
(local mode), and — when ``START_LOCAL_SERVICES`` is on (default in local mode) —
start the supervisor that runs the RQ workers and the scheduler as children.
Only one backend process per Redis runs the supervisor (a Redis lease, ``engine.leader``), so
several Reflex backend workers never run two pools at once. Every process checks the lease every
``RUNTIME_LEASE_CHECK_S``; a process without it takes it over once it has been free for two
rounds in a row. The holder renews it each round and stops its supervisor as soon as the lease
went to another process, or when Redis has not confirmed it for half its lifetime (Redis
unreachable from this process; it retries every ``RUNTIME_LEASE_RETRY_S`` meanwhile): the lease
then still runs for about half its lifetime, and nobody may take it over before it expired and
was seen free twice, so the old pool is gone before a new one starts. (A backend process
frozen as a whole cannot stop its children; a dead one takes them along, see
``engine.runtime.supervisor``.)
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from agentic_app.engine.leader import Lease
from agentic_app.engine.redis_conn import connect
from agentic_app.engine.runtime.local_redis import ensure_redis
from agentic_app.engine.runtime.supervisor import child_preexec, python_module_argv
from agentic_app.settings import Settings

log = logging.getLogger(__name__)

RUNTIME_LEASE_KEY = "agentic:local-runtime"
"""Lease held by the one backend process that supervises workers and scheduler."""
RUNTIME_LEASE_TTL_S = 15.0
"""The runtime lease expires this long after its holder last renewed it."""
RUNTIME_LEASE_CHECK_S = 5.0
"""How often every backend process checks the runtime lease (renew or take over)."""
RUNTIME_LEASE_RETRY_S = 1.0
"""How soon a holder that could not reach Redis tries to renew again."""
RUNTIME_LEASE_CALL_TIMEOUT_S = 1.0
"""Connect and read timeout of the lease's Redis calls (no retries)."""
SETUP_LOCK_KEY = "agentic:local-setup"
"""Lock serialising migrate + seed between backend workers starting at once."""
SETUP_LOCK_S = 120
"""Longest a migrate + seed may hold (and be waited for on) the setup lock."""


@dataclass
class LocalRuntime:
    """Starts and stops the processes a local ``reflex run`` needs."""

    settings: Settings
    redis_url: str | None = None
    app: Any = None
    redis_child: subprocess.Popen | None = None
    supervisor: subprocess.Popen | None = None
    lease: Lease | None = None
    lease_ttl_s: float = RUNTIME_LEASE_TTL_S
    lease_check_s: float = RUNTIME_LEASE_CHECK_S
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _free_rounds: int = 0
    _renewed_at: float = 0.0
    _renew_failing: bool = False
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
            self._app().migrate()
            if s.is_local:
                self._app().demo.seed()
        if s.start_local_services:
            self.run_lease()

    def _app(self):
        """The process's facade (``app`` when given)."""
        if self.app is None:
            from agentic_app.services.app import AppServices

            self.app = AppServices.for_process()
        return self.app

    def run_lease(self) -> None:
        """Start the supervisor if the runtime lease is free, and check the lease every round
        from now on (a thread), taking it over when its holder is gone."""
        self.open_lease()
        self.check_lease(eager=True)
        if self.supervisor is None:
            log.info("another backend process runs the workers and scheduler")
        self._renewer = threading.Thread(target=self._lease_loop, name="runtime-lease",
                                         daemon=True)
        self._renewer.start()

    def open_lease(self) -> None:
        """Set up (not yet take) the runtime lease on our Redis, on a client whose calls
        fail fast, so that a stalled Redis cannot hold a round past the give-up time."""
        client = connect(self.redis_url, timeout=RUNTIME_LEASE_CALL_TIMEOUT_S,
                         read_timeout=RUNTIME_LEASE_CALL_TIMEOUT_S, retry=False)
        self.lease = Lease(client, RUNTIME_LEASE_KEY, self.lease_ttl_s, owner="runtime")

    def _lease_loop(self) -> None:
        while not self._stop.wait(min(RUNTIME_LEASE_RETRY_S, self.lease_check_s)
                                  if self._renew_failing else self.lease_check_s):
            try:
                self.check_lease()
            except (redis.RedisError, OSError) as exc:
                log.warning("runtime lease check failed: %s", exc)
            except Exception:
                log.warning("runtime lease check failed", exc_info=True)

    def check_lease(self, *, eager: bool = False) -> None:
        """One round of the lease (every ``lease_check_s``, under a lock shared with
        :meth:`stop`): the holder renews it (or takes it back if it vanished, e.g. Redis
        restarted empty) and keeps its supervisor running, restarting it if it exited; a
        holder that lost the lease stops its supervisor (see :meth:`_hold`); a process
        without the lease takes it once it has been free for two rounds in a row (the
        holder, which checks every round, gets the first chance to take it back), or at
        once with ``eager`` (start-up)."""
        with self._lock:
            if self._stop.is_set() or self.lease is None:
                return
            if self.supervisor is not None:  # we hold (or held) the lease
                self._hold()
                return
            free = not self.lease.locked()
            self._free_rounds = self._free_rounds + 1 if free else 0
            asked = time.monotonic()
            if (eager or self._free_rounds >= 2) and self.lease.take():
                self._free_rounds = 0
                self._renewed_at = asked
                self.supervisor = self._spawn_supervisor()

    def _hold(self) -> None:
        """The holder's round: renew the lease and keep the supervisor up; stop it at once
        when another process holds the lease, or when Redis has not confirmed the lease for
        half its lifetime (it may expire before we hear from Redis again)."""
        asked = time.monotonic()
        try:
            held: bool | None = self.lease.take()
        except (redis.RedisError, OSError) as exc:
            held = None
            log.warning("could not renew the runtime lease: %s", exc)
        self._renew_failing = held is None
        if held:
            self._renewed_at = asked
            if self.supervisor.poll() is not None:
                log.warning("supervisor exited with %s; starting it again",
                            self.supervisor.poll())
                self.supervisor = self._spawn_supervisor()
            return
        if held is None and asked - self._renewed_at < self.lease_ttl_s / 2:
            return  # try again in RUNTIME_LEASE_RETRY_S
        log.warning("runtime lease %s; stopping our supervisor so that no second pool runs",
                    "lost to another backend process" if held is False
                    else "not renewed for half its lifetime")
        self._terminate(self.supervisor)
        self.supervisor = None
        self._renew_failing = False
        if held is None:
            self._give_up_quietly()

    def _give_up_quietly(self) -> None:
        """Release the lease if Redis answers and it is still ours."""
        try:
            self.lease.give_up()
        except (redis.RedisError, OSError):
            pass

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
                self._give_up_quietly()
