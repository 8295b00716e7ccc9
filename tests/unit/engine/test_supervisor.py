"""The supervisor restarts a child that dies and leaves no child behind when stopped."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import psutil

from agentic_app.engine.runtime.supervisor import ChildSpec, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_killed_child_is_restarted_and_stop_ends_all():
    """SIGKILL one of two children: it is restarted with a new pid; stop() ends both."""
    children = [ChildSpec("a", SLEEPER), ChildSpec("b", SLEEPER)]
    sup = Supervisor(children, grace_seconds=2)
    runner = threading.Thread(target=lambda: _loop(sup), daemon=True)
    runner.start()
    assert _wait(lambda: all(c.process is not None for c in children), 5)
    first_pid = children[0].process.pid
    os.kill(first_pid, signal.SIGKILL)
    assert _wait(lambda: children[0].process is not None
                 and children[0].process.pid != first_pid
                 and children[0].process.poll() is None, 5)
    pids = [c.process.pid for c in children]
    sup._stopping = True
    runner.join(timeout=10)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                   for p in pids)


def _loop(sup: Supervisor) -> None:
    try:
        while not sup._stopping:
            sup.poll_once()
            time.sleep(0.05)
    finally:
        sup.stop()
