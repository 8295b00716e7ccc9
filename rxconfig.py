"""Reflex configuration, built from agentic_app.settings (the only reader of env vars).

Before anything is set up, the address the backend will really listen on is checked: the one
given to ``reflex run --backend-host`` (the click parameter of the running command), else
``REFLEX_BACKEND_HOST`` (rx.Config reads it; ``reflex run`` also sets it for its children),
else BIND_HOST. Reachable beyond loopback with the demo user's default password, the app
refuses to start. In local mode the schema is then brought to head, before Reflex's own
start-up schema check, so a fresh clone starts without "database not up to date" noise.
"""

import os
import sys

import click
import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

from agentic_app.frontend_host import FrontendHostPlugin
from agentic_app.serving import reflex_ports, run_mode
from agentic_app.settings import get_settings

_settings = get_settings()
_bun = _settings.bun_path
os.environ.setdefault("REFLEX_CHECK_LATEST_VERSION", "false")

# only the ports of the ends this command runs (see agentic_app/serving.py)
_ports = reflex_ports(run_mode(sys.argv, os.environ), frontend_port=_settings.frontend_port,
                      backend_port=_settings.backend_port, api_url=_settings.api_base_url,
                      api_url_given=_settings.api_base_url_given)

config = rx.Config(
    app_name="agentic_app",
    db_url=_settings.database_url,
    **_ports,
    backend_host=_settings.bind_host,
    cors_allowed_origins=_settings.frontend_origins,
    telemetry_enabled=False,
    **({"bun_path": _bun} if _bun.exists() else {}),
    show_built_with_reflex=False,
    disable_plugins=[SitemapPlugin],
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium")),
             FrontendHostPlugin(host=_settings.bind_host)],
)


def _cli_backend_host() -> str | None:
    """``--backend-host`` of the running ``reflex run`` command, when given."""
    ctx = click.get_current_context(silent=True)
    host = ctx.params.get("backend_host") if ctx is not None else None
    return host if isinstance(host, str) and host else None


if _problem := _settings.unsafe_exposure(_cli_backend_host() or config.backend_host):
    raise SystemExit(_problem)  # a clear message on stderr and exit status 1
_settings.data_dir.mkdir(parents=True, exist_ok=True)
if _settings.is_local:
    from agentic_app.db.migrate import upgrade_to_head

    _settings.resolved_secret_key()  # generated and kept in the data dir on the first run
    upgrade_to_head(_settings.database_url, _settings.data_dir)
