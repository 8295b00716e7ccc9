#!/usr/bin/env bash
# Lint, then the whole pytest suite (unit, integration against real Redis /
# SQLite / PostgreSQL / worker processes, e2e in Debian chromium).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bun/bin:$PWD/.venv/bin:$PATH"
export REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=false

.venv/bin/ruff check agentic_app tests bench scripts alembic rxconfig.py || exit 1
.venv/bin/lint-imports --no-cache >/tmp/agentic-lint-imports.log 2>&1 \
  || { cat /tmp/agentic-lint-imports.log; exit 1; }
echo "import-linter: $(grep -E '^Contracts:' /tmp/agentic-lint-imports.log)"
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" = 5 ]; then echo "run_tests: pytest collected no tests" >&2; exit 1; fi
exit "$rc"
