"""Layering: workers, scheduler and domain never load Reflex (checked in fresh processes)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentic_app.settings import REPO_ROOT

MODULES = [
    "agentic_app.engine", "agentic_app.engine.runtime.tasks", "agentic_app.engine.runtime.worker",
    "agentic_app.engine.scheduler.service", "agentic_app.engine.queue.maintenance",
    "agentic_app.engine.executor.runner", "agentic_app.domain.workflow",
    "agentic_app.services.runtime", "agentic_app.services.app",
    "agentic_app.api.app",
]


@pytest.mark.parametrize("module", MODULES)
def test_module_does_not_import_reflex(module):
    """Importing the module in a fresh interpreter leaves 'reflex' out of sys.modules."""
    code = (f"import importlib, sys; importlib.import_module({module!r}); "
            "bad = sorted(m for m in sys.modules if m == 'reflex' or m.startswith('reflex.')); "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_domain_imports_no_io_libraries():
    """The domain package imports none of sqlmodel, sqlalchemy, redis, rq, apscheduler, reflex."""
    code = (
        "import importlib, pkgutil, sys, agentic_app.domain as d\n"
        "for m in pkgutil.iter_modules(d.__path__):\n"
        "    importlib.import_module('agentic_app.domain.' + m.name)\n"
        "banned = ('sqlmodel', 'sqlalchemy', 'redis', 'rq', 'apscheduler', 'reflex')\n"
        "bad = [m for m in banned if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
