"""The TradingView secret never reaches the access log: records of the real granian access
logger (built by granian's own request logger and format) and uvicorn-shaped records pass the
filter that the API app installs, and the formatted line holds no secret."""

from __future__ import annotations

import io
import logging
import time

import pytest
from granian.log import DEFAULT_ACCESSLOG_FMT, log_request_builder

from agentic_app.api.access_log import WebhookSecretFilter, redact_path
from agentic_app.api.app import create_api
from agentic_app.services.app import AppServices
from agentic_app.settings import load_settings

SECRET = "s3cr3t-ABCDEFGHIJKLMNOP"
UVICORN_ACCESS_FMT = '%s - "%s %s HTTP/%s" %d'
"""uvicorn's access message (``uvicorn.protocols.http``: client, method, path, version, status)."""


@pytest.fixture
def captured():
    """The access loggers as a server configures them, writing to a buffer, with the filter
    installed the way the app does it (by building the API app)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    loggers = [logging.getLogger(n) for n in ("granian.access", "uvicorn.access")]
    saved = [(lg.level, lg.propagate, list(lg.filters)) for lg in loggers]
    for lg in loggers:
        lg.filters[:] = [f for f in lg.filters if not isinstance(f, WebhookSecretFilter)]
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
        lg.propagate = False
    yield buffer
    for lg, (level, propagate, filters) in zip(loggers, saved, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)
        lg.propagate = propagate
        lg.filters[:] = filters


def _granian_line(path: str, qs: str = "") -> None:
    log = log_request_builder(DEFAULT_ACCESSLOG_FMT + " %(query_string)s")
    req = {"addr_remote": "203.0.113.9", "path": path, "qs": qs, "method": "POST",
           "scheme": "http", "protocol": "HTTP/1.1"}
    log(time.time(), time.perf_counter(), req, 202)


def test_unfiltered_line_would_leak(captured) -> None:
    """Without the filter the secret is in the line (the test sees what it guards)."""
    _granian_line(f"/api/agentic/webhooks/tok123/{SECRET}")
    assert SECRET in captured.getvalue()


def test_app_installs_the_filter_and_lines_hold_no_secret(captured) -> None:
    create_api(AppServices(load_settings(database_url="sqlite://"), redis_url=lambda: None))
    _granian_line(f"/api/agentic/webhooks/tok123/{SECRET}")
    _granian_line("/api/agentic/webhooks/tok123", qs=f"a=1&secret={SECRET}")
    logging.getLogger("uvicorn.access").info(
        UVICORN_ACCESS_FMT, "203.0.113.9:5000", "POST",
        f"/api/agentic/webhooks/tok123/{SECRET}?secret={SECRET}", "1.1", 202)
    logging.getLogger("uvicorn.access").info(
        UVICORN_ACCESS_FMT, "203.0.113.9:5000", "GET", "/api/agentic/health", "1.1", 200)
    lines = captured.getvalue().splitlines()
    assert len(lines) == 4
    assert SECRET not in captured.getvalue()
    assert "/api/agentic/webhooks/tok123/[redacted]" in lines[0]
    assert "secret=[redacted]" in lines[1] and "a=1" in lines[1]
    assert "/webhooks/tok123/[redacted]?secret=[redacted]" in lines[2]
    assert '"GET /api/agentic/health HTTP/1.1" 200' in lines[3]


@pytest.mark.parametrize("path,expected", [
    ("/api/agentic/health?secret=x", "/api/agentic/health?secret=x"),
    ("/api/agentic/webhooks/tok", "/api/agentic/webhooks/tok"),
    ("/api/agentic/webhooks/tok?Secret=abc&x=1", "/api/agentic/webhooks/tok?Secret=[redacted]&x=1"),
    ("/api/agentic/webhooks/tok/a/b", "/api/agentic/webhooks/tok/[redacted]"),
])
def test_redact_path(path, expected) -> None:
    assert redact_path(path) == expected
