#!/usr/bin/env bash
# Lint, then the whole pytest suite (unit, integration against real Redis /
# SQLite / PostgreSQL / worker processes, e2e in Debian chromium).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bun/bin:$PWD/.venv/bin:$PATH"
export REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=false

# A Redis for the tests: the configured one, else a private one stopped again at exit.
started_redis=""
if ! .venv/bin/python -c 'import sys
from agentic_app.engine.runtime.local_redis import find_redis
from agentic_app.settings import get_settings
s = get_settings(); sys.exit(0 if find_redis(s.redis_url, s.data_dir) else 1)'; then
  echo "run_tests: no Redis answers; starting a private one for the tests"
  .venv/bin/python -m agentic_app redis && started_redis=1
fi
cleanup() {
  if [ -n "$started_redis" ] && [ -f .data/redis.pid ]; then
    kill "$(cat .data/redis.pid)" 2>/dev/null; rm -f .data/redis.pid
  fi
}
trap cleanup EXIT

.venv/bin/ruff check agentic_app tests bench scripts alembic rxconfig.py || exit 1
.venv/bin/lint-imports --no-cache >/tmp/agentic-lint-imports.log 2>&1 \
  || { cat /tmp/agentic-lint-imports.log; exit 1; }
echo "import-linter: $(grep -E '^Contracts:' /tmp/agentic-lint-imports.log)"
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" = 5 ]; then echo "run_tests: pytest collected no tests" >&2; exit 1; fi
exit "$rc"
