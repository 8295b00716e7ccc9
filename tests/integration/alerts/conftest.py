"""Fixtures of the alert tests: a real HTTP receiver and a real SMTP sink on loopback
(reachable only because these tests set OUTBOUND__ALLOW_LOOPBACK), real RQ worker
processes (the queue tests' entry), SQLite, and a facade with the same settings."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agentic_app.services.app import AppServices
from tests.integration.queue.conftest import QueueEnv

ALERTS_REDIS_DB = 9
"""Redis database of the alert tests (workers here must not take other folders' jobs)."""
TEST_SETTINGS = {"outbound": {"allow_loopback": True},
                 "alerts": {"storm_window_minutes": 0.05, "max_attempts": 3,
                            "retry_delay_seconds": [1], "stale_after_seconds": 2}}
"""Loopback allowed (the receiver and the SMTP sink), a 3 s storm window, fast retries, a
delivery whose sender died is retried after 2 s."""


class Receiver:
    """An HTTP server on 127.0.0.1 recording every POST body; ``status`` is what it answers,
    ``hold`` (when set) keeps requests waiting until released."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.peers: list[int] = []
        self.status = 200
        self.hold: threading.Event | None = None
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.peers.append(self.client_address[1])
                receiver.arrived.set()
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                    receiver.hold = None
                    return  # the sender was killed meanwhile: nothing recorded
                receiver.messages.append(json.loads(body or b"{}"))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "hook") -> str:
        """The apprise URL of this receiver."""
        return f"json://127.0.0.1:{self.port}/{path}"

    def close(self) -> None:
        """Stop serving."""
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 keeping every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.append(envelope)
                return "250 OK"

        import socket

        with socket.socket() as probe:  # a free port (aiosmtpd cannot take port 0)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def url(self) -> str:
        """The apprise mailto URL delivering to this sink."""
        return (f"mailto://127.0.0.1:{self.port}/me@example.com?smtp=127.0.0.1"
                f"&from=alerts@example.com&mode=insecure")

    def close(self) -> None:
        """Stop the server."""
        self.controller.stop()


class AlertEnv(QueueEnv):
    """A queue environment whose settings allow loopback targets, plus the facade."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.overrides.update(TEST_SETTINGS)
        self._app: AppServices | None = None

    @property
    def app(self) -> AppServices:
        """A facade on the test database and Redis with the test settings."""
        if self._app is None:
            self._app = AppServices(self.settings, redis_url=self.redis_url)
        return self._app


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP receiver, stopped after the test."""
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A local SMTP sink, stopped after the test."""
    sink = SmtpSink()
    yield sink
    sink.close()


@pytest.fixture
def aenv(sqlite_db_url: str, redis_base_url: str, tmp_path) -> Iterator[AlertEnv]:
    """Alert test environment on SQLite + a flushed Redis db; workers killed at teardown."""
    import redis

    from tests.conftest import _with_db

    url = _with_db(redis_base_url, ALERTS_REDIS_DB)
    redis.Redis.from_url(url).flushdb()
    env = AlertEnv(sqlite_db_url, url, tmp_path)
    yield env
    env.kill_all()
