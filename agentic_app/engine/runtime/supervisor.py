"""A small process supervisor: keeps worker and scheduler processes alive.

Children are restarted with capped exponential backoff when they exit; on
SIGTERM/SIGINT every child is stopped (SIGTERM, then SIGKILL after a grace
period). Each child asks the kernel to SIGTERM it if the supervisor dies
(PR_SET_PDEATHSIG), so no process outlives its parent.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def child_preexec() -> None:
    """Run in a forked child before exec: die with SIGTERM when the parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # pragma: no cover - non-Linux
        pass


@dataclass
class ChildSpec:
    """One supervised command."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    started_at: float = 0.0
    restarts: int = 0
    next_start: float = 0.0


def python_module_argv(module: str, *args: str) -> list[str]:
    """argv that runs ``python -m module args`` with the current interpreter."""
    return [sys.executable, "-m", module, *args]


class Supervisor:
    """Start children, restart them when they exit, stop them all on request."""

    BACKOFF_MAX = 30.0
    STABLE_AFTER = 60.0

    def __init__(self, children: list[ChildSpec], *, grace_seconds: float = 10.0):
        self.children = children
        self.grace_seconds = grace_seconds
        self._stopping = False

    def _start(self, child: ChildSpec) -> None:
        env = dict(os.environ)
        env.update(child.env or {})
        child.process = subprocess.Popen(child.argv, env=env, preexec_fn=child_preexec)
        child.started_at = time.monotonic()
        log.info("started %s (pid %s)", child.name, child.process.pid)

    def poll_once(self) -> None:
        """Restart every child that has exited, respecting its backoff."""
        now = time.monotonic()
        for child in self.children:
            proc = child.process
            if proc is not None and proc.poll() is None:
                continue
            if proc is not None:
                uptime = now - child.started_at
                child.restarts = 0 if uptime > self.STABLE_AFTER else child.restarts + 1
                delay = min(self.BACKOFF_MAX, 0.5 * (2 ** child.restarts))
                log.warning("%s exited with %s after %.1fs; restarting in %.1fs",
                            child.name, proc.returncode, uptime, delay)
                child.process = None
                child.next_start = now + delay
            if now >= child.next_start and not self._stopping:
                self._start(child)

    def stop(self) -> None:
        """Stop all children: SIGTERM, wait for the grace period, then SIGKILL."""
        self._stopping = True
        live = [c.process for c in self.children if c.process and c.process.poll() is None]
        for proc in live:
            proc.terminate()
        deadline = time.monotonic() + self.grace_seconds
        for proc in live:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def run(self) -> None:
        """Supervise until SIGTERM or SIGINT."""
        def _handle(signum, _frame):
            self._stopping = True

        signal.signal(signal.SIGTERM, _handle)
        signal.signal(signal.SIGINT, _handle)
        try:
            while not self._stopping:
                self.poll_once()
                time.sleep(0.5)
        finally:
            self.stop()
