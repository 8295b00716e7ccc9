"""deploy/ can be copied as it is (containers cannot run here, so its structure is checked):
the compose services and their order, every command parses with our CLI or Reflex's, every
environment name is a setting (agentic_app/settings.py) or Reflex's own, and no secret has a
default value - in the compose file, the Procfile, the systemd units and the env examples."""

from __future__ import annotations

import dataclasses
import re
import shlex

import pytest
import yaml
from pydantic import BaseModel

from agentic_app.settings import REPO_ROOT, Settings

DEPLOY = REPO_ROOT / "deploy"
IMAGE_VARIABLES = {"postgres": {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"}}
"""Variables read by the images themselves, per service."""
SECRETISH = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY$")
REQUIRED_VAR = re.compile(r"^\$\{[A-Z_]+:\?[^}]+\}$")
"""``${NAME:?message}``: compose refuses to start while NAME is unset or empty."""
VENV_BIN = "/opt/agentic/.venv/bin/"


def _settings_names(model: type[BaseModel] = Settings, prefix: str = "") -> set[str]:
    """Every environment name Settings reads, nested ones as ``PARENT__FIELD``."""
    names = set()
    for name, info in model.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else name
        key = f"{prefix}__{name}".upper() if prefix else alias.upper()
        names.add(key)
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            names |= _settings_names(info.annotation, key)
    return names


def _reflex_names() -> set[str]:
    """Reflex's config fields (``REFLEX_<FIELD>``) and its documented environment variables."""
    import reflex as rx
    from reflex_base.environment import EnvironmentVariables

    fields = {f"REFLEX_{f.name.upper()}" for f in dataclasses.fields(rx.Config)}
    return fields | {n for n in dir(EnvironmentVariables) if n.startswith("REFLEX_")}


KNOWN_NAMES = _settings_names() | _reflex_names()


def _check_command(argv: list[str]) -> str:
    """Parse ``argv`` with the CLI it names; return what it runs. Fails on a bad command."""
    if argv[0].startswith(VENV_BIN):
        argv = [argv[0].removeprefix(VENV_BIN), *argv[1:]]
    if argv[:3] == ["python", "-m", "agentic_app"]:
        from agentic_app.__main__ import build_parser

        args = build_parser().parse_args(argv[3:])  # SystemExit(2) on a bad command
        return f"agentic {args.command}"
    if argv[0] == "reflex":
        from reflex.reflex import cli

        ctx = cli.commands[argv[1]].make_context(argv[1], argv[2:])
        mode = "backend" if ctx.params.get("backend_only") else (
            "frontend" if ctx.params.get("frontend_only") else "both")
        return f"reflex {argv[1]} {ctx.params.get('env')} {mode}"
    raise AssertionError(f"unknown command {argv}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def test_compose_services_and_their_order(compose):
    """PostgreSQL, Redis with AOF, the one-shot migration that the app services wait for,
    the backend, the static frontend, workers (scalable) and two schedulers."""
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "backend", "frontend", "worker",
                             "scheduler"}
    assert "--appendonly" in services["redis"]["command"]
    command = services["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert services["migrate"]["restart"] == "no"
    for name in ("backend", "worker", "scheduler"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy"
    assert services["frontend"]["build"]["target"] == "frontend"
    assert services["frontend"]["depends_on"]["backend"]["condition"] == "service_healthy"
    assert str(services["worker"]["deploy"]["replicas"]).startswith("${WORKER_REPLICAS")
    assert services["scheduler"]["deploy"]["replicas"] >= 2
    stages = re.findall(r"^FROM \S+ AS (\S+)", (DEPLOY / "Dockerfile").read_text(), re.M)
    assert {"app", "frontend"} <= set(stages)
    assert services["backend"]["build"]["target"] == "app"


def test_compose_commands_exist(compose):
    """Each service runs a command our CLI or Reflex accepts, the backend backend-only."""
    runs = {name: _check_command(svc["command"]) for name, svc in compose["services"].items()
            if "command" in svc and name != "redis"}
    assert runs == {"migrate": "agentic migrate", "backend": "reflex run prod backend",
                    "worker": "agentic worker", "scheduler": "agentic scheduler"}


def test_compose_environment_names_are_settings(compose):
    """Every variable given to an app container is read by Settings or by Reflex."""
    for name, svc in compose["services"].items():
        known = KNOWN_NAMES | IMAGE_VARIABLES.get(name, set())
        unknown = set(svc.get("environment", {})) - known
        assert not unknown, (name, unknown)
    backend = compose["services"]["backend"]["environment"]
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "REFLEX_REDIS_URL", "API_BASE_URL",
            "FRONTEND_ORIGINS"} <= set(backend)
    assert backend["AGENTIC_MODE"] == "production"


def test_compose_has_no_default_secrets(compose):
    """Secrets and passwords inside URLs are required variables, never values or defaults."""
    for name, svc in compose["services"].items():
        for key, value in svc.get("environment", {}).items():
            if SECRETISH.search(key):
                assert REQUIRED_VAR.match(str(value)), (name, key, value)
            for password in re.findall(r"://[^:/@]+:([^@]+)@", str(value)):
                assert REQUIRED_VAR.match(password), (name, key, value)
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    uses = re.findall(r"SECRET_KEY=(.{0,40})", dockerfile)  # only the build's throw-away key
    assert uses and all(u.startswith('"$(python -c \'import secrets') for u in uses), uses


def _env_file(path) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return {k.strip(): v.strip() for k, v in pairs}


def test_env_examples_leave_secrets_empty_and_name_settings(compose):
    """deploy/.env.example feeds compose's required variables (all of them, secrets empty);
    the systemd EnvironmentFile example names settings only, secrets empty."""
    compose_vars = _env_file(DEPLOY / ".env.example")
    text = (DEPLOY / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    assert required <= set(compose_vars)
    unit_vars = _env_file(DEPLOY / "systemd" / "agentic.env.example")
    assert set(unit_vars) <= KNOWN_NAMES, set(unit_vars) - KNOWN_NAMES
    for values in (compose_vars, unit_vars):
        for key, value in values.items():
            if SECRETISH.search(key) or key == "DATABASE_URL":
                assert value == "", (key, value)


def test_procfile_and_systemd_commands_exist():
    """The Procfile's processes and the units' ExecStart lines parse with our CLI/Reflex."""
    procfile = dict(line.split(":", 1) for line in (DEPLOY / "Procfile").read_text().splitlines()
                    if line.strip() and not line.startswith("#"))
    runs = {name: _check_command(shlex.split(cmd)) for name, cmd in procfile.items()}
    assert runs == {"release": "agentic migrate", "web": "reflex run prod backend",
                    "frontend": "reflex run prod frontend", "worker": "agentic worker",
                    "scheduler": "agentic scheduler"}
    units = {}
    for path in sorted((DEPLOY / "systemd").glob("*.service")):
        text = path.read_text()
        assert "EnvironmentFile=/etc/agentic/agentic.env" in text, path.name
        exec_start = re.search(r"^ExecStart=(.+)$", text, re.M).group(1)
        units[path.name] = _check_command(shlex.split(exec_start))
    assert units == {"agentic-backend.service": "reflex run prod backend",
                     "agentic-migrate.service": "agentic migrate",
                     "agentic-scheduler.service": "agentic scheduler",
                     "agentic-worker@.service": "agentic worker"}


def test_reverse_proxy_routes_the_backend_paths():
    """nginx and Caddy send Reflex's event socket and our API prefix to the backend and
    serve dynamic routes through the SPA fallback the export writes."""
    from agentic_app.api.app import API_PREFIX

    nginx = (DEPLOY / "nginx.conf").read_text()
    caddy = (DEPLOY / "Caddyfile").read_text()
    for path in ("_event", API_PREFIX.strip("/"), "_upload", "ping"):
        assert path in nginx and f"/{path}*" in caddy, path
    assert "/__spa-fallback.html" in nginx and "/__spa-fallback.html" in caddy
    assert "server backend:8000;" in nginx
    assert "Upgrade $http_upgrade" in nginx


def test_compose_backend_trusts_its_proxy_network(compose):
    """nginx reaches the backend from the compose network: the backend believes exactly that
    network's X-Forwarded-For (else 'TradingView senders only' jobs answer 403 to everyone),
    and the systemd example trusts the proxy on the same host."""
    import ipaddress
    import json

    def resolve(value: str) -> str:  # ${NAME:-default} -> default
        return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)

    subnet = resolve(compose["networks"]["default"]["ipam"]["config"][0]["subnet"])
    trusted = json.loads(resolve(compose["services"]["backend"]["environment"]
                                 ["WEBHOOKS__TRUSTED_PROXIES"]))
    assert trusted == [subnet]
    network = ipaddress.ip_network(subnet)
    assert network.is_private and network.prefixlen >= 12
    assert _env_file(DEPLOY / ".env.example")["COMPOSE_SUBNET"] == subnet
    units = json.loads(_env_file(DEPLOY / "systemd" / "agentic.env.example")
                       ["WEBHOOKS__TRUSTED_PROXIES"])
    assert "127.0.0.1/32" in units
    from agentic_app.settings import Webhooks
    assert Webhooks(trusted_proxies=trusted).proxy_networks()  # parses as the app reads it


def test_nginx_never_logs_the_webhook_secret():
    """The access log uses the redacted format (no $request / $request_uri for webhooks)."""
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "access_log /var/log/nginx/access.log agentic_redacted;" in nginx
    fmt = nginx[nginx.index("log_format agentic_redacted"):]
    fmt = fmt[:fmt.index(";")]
    assert "$agentic_log_uri" in fmt and "$request " not in fmt and "$request_uri" not in fmt
    assert '"${keep}[redacted]"' in nginx
