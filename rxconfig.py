"""Reflex configuration, built from agentic_app.settings (the only reader of env vars).

In local mode the schema is brought to head here, before Reflex's own start-up
schema check, so a fresh clone starts without "database not up to date" noise.
"""

import os
import sys

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin
from reflex_base.constants.installer import PackageJson

from agentic_app.serving import reflex_ports, run_mode
from agentic_app.settings import get_settings

_settings = get_settings()
if _problem := _settings.unsafe_exposure():
    raise SystemExit(_problem)  # a clear message on stderr and exit status 1
_bun = _settings.bun_path
os.environ.setdefault("REFLEX_CHECK_LATEST_VERSION", "false")
_settings.data_dir.mkdir(parents=True, exist_ok=True)
if _settings.is_local:
    from agentic_app.db.migrate import upgrade_to_head

    _settings.resolved_secret_key()  # generated and kept in the data dir on the first run
    upgrade_to_head(_settings.database_url, _settings.data_dir)

# Reflex's dev server command is `react-router dev --host` (every interface): serve the
# frontend on the same address as the backend instead.
PackageJson.Commands.DEV = f"react-router dev --host {_settings.bind_host}"

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
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
)
