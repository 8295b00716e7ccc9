"""Safe defaults of the real processes: local mode listens on loopback only, and a local app
reachable from elsewhere with the demo user's default password refuses to start."""

from __future__ import annotations

import os
import subprocess
from urllib.parse import urlsplit

import psutil
import pytest

from agentic_app.settings import REPO_ROOT
from tests.e2e.conftest import RunningApp, _free_port


def _listen_addresses(port: int) -> set[str]:
    """Local addresses on which some process listens on TCP ``port``."""
    return {c.laddr.ip for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port}


def test_local_mode_listens_on_loopback_only(reflex_app: RunningApp):
    """`reflex run` in local mode with default settings: backend and frontend listen on
    127.0.0.1 and on no other address (not 0.0.0.0 / ::)."""
    for url in (reflex_app.backend, reflex_app.frontend):
        port = urlsplit(url).port
        addresses = _listen_addresses(port)
        assert addresses == {"127.0.0.1"}, (url, addresses)


EXPOSURES = {
    "bind-host": ({"BIND_HOST": "0.0.0.0"}, []),
    "cli-backend-host": ({}, ["--backend-host", "0.0.0.0"]),
    "reflex-env-backend-host": ({"REFLEX_BACKEND_HOST": "::"}, []),
}
"""Ways to make the backend listen beyond loopback: the app's setting, Reflex's CLI option,
Reflex's own environment variable."""


@pytest.mark.parametrize("exposure", EXPOSURES, ids=list(EXPOSURES))
def test_exposed_app_with_default_demo_password_refuses_to_start(tmp_path, redis_base_url,
                                                                 exposure):
    """The real `reflex run` told to listen beyond loopback (by BIND_HOST, by
    `--backend-host` or by REFLEX_BACKEND_HOST) with the default demo password exits
    non-zero before listening or setting anything up, saying why and what to set."""
    extra_env, extra_args = EXPOSURES[exposure]
    port = _free_port()
    env = dict(os.environ, DATA_DIR=str(tmp_path), BACKEND_PORT=str(port),
               REDIS_URL=redis_base_url, REFLEX_TELEMETRY_ENABLED="false", **extra_env)
    for name in ("DEMO_PASSWORD", "DATABASE_URL", "AGENTIC_MODE", "BIND_HOST"):
        if name not in extra_env:
            env.pop(name, None)
    done = subprocess.run([str(REPO_ROOT / ".venv/bin/reflex"), "run", "--backend-only",
                           *extra_args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=180)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "refusing to start" in output and "DEMO_PASSWORD" in output, output
    assert not _listen_addresses(port)
    assert not (tmp_path / "agentic.db").exists()  # nothing was set up


def test_running_app_grants_cors_to_its_frontend_only(reflex_app: RunningApp):
    """The real backend answers a request from another origin without a CORS grant, and one
    from its own frontend with one."""
    import httpx

    url = f"{reflex_app.backend}/api/agentic/health"
    evil = httpx.get(url, headers={"Origin": "https://evil.example"}, timeout=30)
    assert "access-control-allow-origin" not in evil.headers
    own = httpx.get(url, headers={"Origin": reflex_app.frontend}, timeout=30)
    assert own.headers["access-control-allow-origin"] == reflex_app.frontend
