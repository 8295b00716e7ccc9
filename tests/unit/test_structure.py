"""Structure: every module of agentic_app is at most 500 lines and no modules import each
other in a cycle (import-linter's contracts in `make test` cover who may import whom)."""

from __future__ import annotations

import grimp

from agentic_app.domain.graph import strong_components
from agentic_app.settings import REPO_ROOT

MAX_MODULE_LINES = 500
"""A module longer than this holds more than one concern: split it."""


def test_no_module_over_the_line_limit():
    """No .py file under agentic_app/ has more than MAX_MODULE_LINES lines."""
    too_long = {}
    for path in sorted((REPO_ROOT / "agentic_app").rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            too_long[str(path.relative_to(REPO_ROOT))] = lines
    assert too_long == {}


def test_no_import_cycles():
    """No two modules of agentic_app import each other, directly or through others - lazy
    imports inside functions count too; imports only for type checking do not."""
    graph = grimp.build_graph("agentic_app", exclude_type_checking_imports=True, cache_dir=None)
    ours = {m for m in graph.modules if m.startswith("agentic_app")}
    succs = {m: dict.fromkeys(sorted(graph.find_modules_directly_imported_by(m) & ours))
             for m in sorted(ours)}
    cycles = [sorted(c) for c in strong_components(succs) if len(c) > 1]
    assert cycles == []
