"""Which ports rxconfig hands Reflex for each `reflex` command (agentic_app/serving.py)."""

from __future__ import annotations

import pytest

from agentic_app.serving import RunMode, reflex_ports, run_mode
from agentic_app.settings import load_settings


@pytest.mark.parametrize(("argv", "environ", "expected"), [
    (["reflex", "run"], {}, RunMode()),
    (["reflex", "run", "--env", "prod"], {}, RunMode(prod=True)),
    (["reflex", "run", "--env=prod", "--backend-only"], {}, RunMode(True, True, False)),
    (["reflex", "run", "--frontend-only"], {}, RunMode(False, False, True)),
    (["granian"], {"REFLEX_ENV_MODE": "prod", "REFLEX_BACKEND_ONLY": "true"},
     RunMode(True, True, False)),
    (["granian"], {"REFLEX_ENV_MODE": "dev", "REFLEX_FRONTEND_ONLY": "False"}, RunMode()),
    (["reflex", "run", "--env", "dev"], {"REFLEX_ENV_MODE": "prod"}, RunMode()),
])
def test_run_mode_from_argv_and_reflex_variables(argv, environ, expected):
    """Command-line options first, then the variables Reflex sets for its child processes."""
    assert run_mode(argv, environ) == expected


def _ports(mode: RunMode, given: bool = False):
    return reflex_ports(mode, frontend_port=3100, backend_port=8100,
                        api_url="https://api.example.test" if given else "http://localhost:8100",
                        api_url_given=given)


def test_backend_only_gets_no_frontend_port_and_frontend_only_no_backend_port():
    """The error Reflex raises otherwise: "Cannot specify --frontend-port when not running
    frontend" (and the backend twin)."""
    for prod in (False, True):
        assert _ports(RunMode(prod, backend_only=True)) == {
            "backend_port": 8100, "api_url": "http://localhost:8100"}
        assert _ports(RunMode(prod, frontend_only=True)) == {
            "frontend_port": 3100, "api_url": "http://localhost:8100"}


def test_prod_full_stack_serves_everything_on_the_frontend_port():
    """Reflex refuses two ports in prod; the derived API URL follows the one port, a given
    API_BASE_URL (a reverse proxy's public URL) is kept."""
    assert _ports(RunMode(prod=True)) == {"frontend_port": 3100, "backend_port": 3100,
                                          "api_url": "http://localhost:3100"}
    assert _ports(RunMode(prod=True), given=True)["api_url"] == "https://api.example.test"
    assert _ports(RunMode()) == {"frontend_port": 3100, "backend_port": 8100,
                                 "api_url": "http://localhost:8100"}


def test_settings_tell_a_given_api_url_from_a_derived_one(monkeypatch):
    """API_BASE_URL given or derived from BACKEND_PORT."""
    monkeypatch.delenv("API_BASE_URL", raising=False)
    assert load_settings(backend_port=8123).api_base_url == "http://localhost:8123"
    assert not load_settings(backend_port=8123).api_base_url_given
    monkeypatch.setenv("API_BASE_URL", "https://x.example.test")
    assert load_settings().api_base_url_given
