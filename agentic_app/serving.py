"""Which ports and API URL ``rxconfig.py`` hands Reflex for the command being run.

Reflex refuses a frontend port when it runs the backend only ("Cannot specify
--frontend-port when not running frontend"), a backend port when it runs the
frontend only, and two different ports in ``--env prod`` with both ends (one port
serves the built frontend and the backend). ``rxconfig.py`` is imported before
Reflex records the running mode, so the mode is read here from the command line
and from the variables Reflex's own options read (``REFLEX_BACKEND_ONLY``,
``REFLEX_FRONTEND_ONLY``, ``REFLEX_ENV_MODE``). Pure: no Reflex import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class RunMode:
    """What the running ``reflex`` command serves."""

    prod: bool = False
    backend_only: bool = False
    frontend_only: bool = False

    @property
    def single_port(self) -> bool:
        """True when one process serves the built frontend and the backend on one port."""
        return self.prod and not self.backend_only and not self.frontend_only


def _option(argv: Sequence[str], name: str) -> str | None:
    """The value of ``--name value`` or ``--name=value`` in ``argv`` (the last one wins)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def run_mode(argv: Sequence[str], environ: Mapping[str, str]) -> RunMode:
    """The mode of the ``reflex`` command given by ``argv`` and the environment."""
    env = (_option(argv, "--env") or environ.get("REFLEX_ENV_MODE") or "dev").lower()
    return RunMode(
        prod=env == "prod",
        backend_only="--backend-only" in argv
        or environ.get("REFLEX_BACKEND_ONLY", "").lower() in _TRUE,
        frontend_only="--frontend-only" in argv
        or environ.get("REFLEX_FRONTEND_ONLY", "").lower() in _TRUE,
    )


def reflex_ports(mode: RunMode, *, frontend_port: int, backend_port: int, api_url: str,
                 api_url_given: bool) -> dict[str, int | str]:
    """The ``rx.Config`` keyword arguments for the ports and the API URL in ``mode``.

    Only the port of the end that runs is passed. With one port for both ends (prod,
    full stack) the frontend port serves both and, unless ``API_BASE_URL`` was given,
    the browser reaches the API on that same port."""
    if mode.backend_only:
        return {"backend_port": backend_port, "api_url": api_url}
    if mode.frontend_only:
        return {"frontend_port": frontend_port, "api_url": api_url}
    if mode.single_port:
        url = api_url if api_url_given else f"http://localhost:{frontend_port}"
        return {"frontend_port": frontend_port, "backend_port": frontend_port, "api_url": url}
    return {"frontend_port": frontend_port, "backend_port": backend_port, "api_url": api_url}
