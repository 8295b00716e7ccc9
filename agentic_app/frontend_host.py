"""Where the frontend dev server listens, through Reflex's plugin API.

Reflex 0.10 starts the dev frontend with the ``dev`` script of ``.web/package.json``, fixed to
``react-router dev --host`` (every interface), and has no config option for that host. This
plugin's pre-compile hook (``add_modify_task``, Reflex's supported way for a plugin to edit a
generated ``.web`` file) rewrites the script to listen on the configured address only. The
compile runs before the frontend starts, after the package install step (which renders the
script from Reflex's default), so the frontend always starts from the rewritten script."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from reflex_base.plugins.base import Plugin

PACKAGE_JSON = "package.json"
"""The generated file (relative to ``.web``) whose ``dev`` script starts the frontend."""


def dev_command(host: str) -> str:
    """The dev-server command listening on ``host`` only."""
    return f"react-router dev --host {shlex.quote(host)}"


@dataclass(kw_only=True, frozen=True)
class FrontendHostPlugin(Plugin):
    """Make the dev frontend listen on ``host`` (the app's BIND_HOST) only."""

    host: str

    def pre_compile(self, **context: Any) -> None:
        """Queue the rewrite of ``.web/package.json``'s ``dev`` script."""
        context["add_modify_task"](PACKAGE_JSON, self.rewrite)

    def rewrite(self, text: str) -> str:
        """``package.json`` text with the ``dev`` script listening on ``host``."""
        package = json.loads(text)
        package.setdefault("scripts", {})["dev"] = dev_command(self.host)
        return json.dumps(package, indent=2) + "\n"
