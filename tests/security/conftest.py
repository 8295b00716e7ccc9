"""Fixtures of the security tests: real local listeners, the API on a real DB and Redis,
process settings (``get_settings``) that a test may change and that are restored after, and
for the attacks on the UI one real `reflex run` for the package (started on first use) with
fresh accounts on it, created through the CLI and signed in through the REST API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from agentic_app.settings import REPO_ROOT, get_settings
from tests.api.conftest import ApiEnv
from tests.api.conftest import redis_url as redis_url  # re-exported: the API tests' Redis db
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, RunningApp, start_app
from tests.e2e.conftest import page as page  # re-exported: a page per test

API = "/api/agentic"
"""Prefix of the REST API on the backend."""
SMALL_FLOW = {"nodes": [{"id": "hello", "type": "log", "params": {"message": "hello"}}],
              "edges": []}
"""A valid one-node workflow each account starts with."""


class Listener:
    """A real HTTP server on 127.0.0.1 that records every accepted connection and request.

    It answers ``status`` (with ``Location: redirect_to`` when given). ``connections``
    counts TCP connections, so a client that connects and sends nothing is seen too."""

    def __init__(self, status: int = 200, redirect_to: str | None = None) -> None:
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 3

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                listener.requests.append({"method": self.command, "path": self.path,
                                          "body": self.rfile.read(length)})
                self.send_response(status)
                if redirect_to:
                    self.send_header("Location", redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request, client_address) -> bool:
                listener.connections += 1
                return True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def received_nothing(self) -> bool:
        """True when no client ever connected."""
        return self.connections == 0 and not self.requests

    def json_bodies(self) -> list[dict]:
        """The JSON bodies received."""
        return [json.loads(r["body"]) for r in self.requests if r["body"]]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A listener that must usually receive nothing."""
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def second_listener() -> Iterator[Listener]:
    """Another listener (a redirect target, or the one allowed host)."""
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def process_settings(monkeypatch) -> Iterator[Any]:
    """Set environment settings for this process (``set(NAME=value)``, JSON for lists);
    ``get_settings`` is rebuilt now and after the test."""

    def set_env(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value if isinstance(value, str) else json.dumps(value))
        get_settings.cache_clear()

    get_settings.cache_clear()
    yield set_env
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def env(sqlite_db_url: str, redis_url: str) -> ApiEnv:
    """The API on SQLite and the test Redis, with short login delays (1 s, up to 4 s)."""
    return ApiEnv(sqlite_db_url, redis_url,
                  login={"first_delay_seconds": 1, "max_delay_seconds": 4})


@dataclass
class Account:
    """A user of the running app with a session token and one workflow."""

    username: str
    password: str
    token: str
    workflow_id: int

    @property
    def headers(self) -> dict[str, str]:
        """The bearer header of the session token."""
        return {"Authorization": f"Bearer {self.token}"}


def create_account(app: RunningApp) -> Account:
    """A new user (CLI ``create-user`` on the app's data dir), signed in through
    ``POST /auth/login``, owning one small workflow created through ``POST /workflows``."""
    username, password = f"sec-{uuid.uuid4().hex[:10]}", f"pw-{uuid.uuid4().hex}"
    env = dict(os.environ, DATA_DIR=str(app.data_dir))
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "agentic_app", "create-user", username,
                    "--password", password], cwd=REPO_ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    login = httpx.post(f"{app.backend}{API}/auth/login",
                       json={"username": username, "password": password}, timeout=30)
    login.raise_for_status()
    token = login.json()["access_token"]
    created = httpx.post(f"{app.backend}{API}/workflows", timeout=30,
                         headers={"Authorization": f"Bearer {token}"},
                         json={"name": "security probe", "definition": SMALL_FLOW})
    created.raise_for_status()
    return Account(username, password, token, int(created.json()["id"]))


@pytest.fixture(scope="package")
def reflex_app(tmp_path_factory, redis_base_url) -> RunningApp:
    """One `reflex run` (frontend, backend, workers, scheduler) for the security tests."""
    app = start_app(tmp_path_factory.mktemp("security-app"), redis_base_url,
                    log_name="security-app.log")
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def account(reflex_app: RunningApp) -> Account:
    """A fresh signed-in user of the running app."""
    return create_account(reflex_app)


@pytest.fixture(scope="module")
def browser():
    """Debian chromium for the modules that need one, closed at the end of each module:
    while Playwright's sync API is open it keeps an event loop running in the main thread,
    and a later test of the package that calls ``asyncio.run`` would fail."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
