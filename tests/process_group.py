"""Test helper: commands started as their own process groups (a host's service each), with a
log file, waited on with a bounded timeout, stopped gracefully or killed -9 as a group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil

from agentic_app.settings import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"
"""Where the logs of the started commands go."""
REFLEX = str(REPO_ROOT / ".venv" / "bin" / "reflex")
"""The ``reflex`` command of the venv."""
TOOL_PATH = os.pathsep.join([str(REPO_ROOT / ".tools/bun/bin"), str(REPO_ROOT / ".venv/bin")])
"""bun and the venv's commands, put in front of PATH."""


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    """The environment of a started command: this one, no telemetry or version check, bun
    and the venv on PATH, no hot reload, plus ``extra``."""
    env = dict(os.environ, REFLEX_TELEMETRY_ENABLED="false", REFLEX_CHECK_LATEST_VERSION="false",
               PATH=TOOL_PATH + os.pathsep + os.environ["PATH"])
    env.pop("DATABASE_URL", None)
    quiet = ARTIFACTS / "noreload"
    quiet.mkdir(parents=True, exist_ok=True)
    env["REFLEX_HOT_RELOAD_OVERRIDE_PATHS"] = str(quiet)
    env.update(extra)
    return env


class Group:
    """One started command and every process it forks (its own session / process group)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]):
        ARTIFACTS.mkdir(exist_ok=True)
        self.name, self.argv = name, argv
        self.log = ARTIFACTS / f"{name}.log"
        with open(self.log, "w") as fh:
            self.proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=fh,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    @classmethod
    def agentic(cls, name: str, *args: str, env: dict[str, str]) -> Group:
        """``python -m agentic_app <args>``."""
        return cls(name, [sys.executable, "-m", "agentic_app", *args], env)

    @classmethod
    def reflex(cls, name: str, *args: str, env: dict[str, str]) -> Group:
        """``reflex <args>``."""
        return cls(name, [REFLEX, *args, "--loglevel", "info"], env)

    def tail(self, chars: int = 4000) -> str:
        """The end of the command's log."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def pids(self) -> list[int]:
        """PIDs of the processes still in the group, and of every descendant of its leader
        (an RQ work-horse starts its own session, yet dies with its host or container)."""
        out = subprocess.run(["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True)
        pids = {int(p) for p in out.stdout.split()}
        try:
            pids |= {c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            pass
        return sorted(pids)

    def wait_http(self, url: str, timeout: float, ok=lambda r: r.status_code < 500) -> None:
        """Poll ``url`` until ``ok(response)``; fail with the log if the command exits or
        ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n"
                                     f"{self.tail()}")
            try:
                if ok(httpx.get(url, timeout=3, follow_redirects=True)):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"{url} did not answer in {timeout}s ({self.name}):\n{self.tail()}")

    def _kill(self, pids: list[int]) -> None:
        """SIGKILL the group and ``pids`` (gone ones are skipped)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def kill9(self) -> None:
        """SIGKILL every process of the group and every descendant at once (a host or
        container dying)."""
        self._kill(self.pids())
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 30) -> None:
        """SIGINT the group (Ctrl-C), SIGKILL what is left of it and of the leader's
        descendants after it exited or ``timeout`` passed; returns once none is left (or
        after 10 s more)."""
        victims = self.pids()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout=timeout)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        self._kill([p for p in victims if psutil.pid_exists(p)])
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)
        # a SIGKILLed process is gone only once it is reaped, and one forked during the stop
        # (a pool respawning a worker) was not among the victims: kill until none is left
        deadline = time.monotonic() + 10
        while (left := self.pids()) and time.monotonic() < deadline:
            self._kill(left)
            time.sleep(0.1)
