"""Health latency of the backend while its event loop is under attack.

Starts a real `reflex run` (own data dir), creates a user (CLI) and signs in (REST), then
runs tests/security/loop_load.py: the signed-in tab sends the largest workflow the limits
allow (MAX_NODES nodes, MAX_EDGES edges, just under MAX_DEFINITION_BYTES) through the
editor's WebSocket event again and again, each after the previous answer, while an anonymous
tab sends the same text as event after event (each refused) and ``GET /api/agentic/health``
is timed from another process every 50 ms. Prints p50/p99/max against the 200 ms p99 goal;
the last line is a JSON object.

Usage: ``.venv/bin/python bench/loop_bench.py [--seconds 20] [--big 10000] [--anon 100000]``
(the counts are upper bounds: the run stops after ``--seconds``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agentic_app.engine.runtime.local_redis import find_redis  # noqa: E402
from tests.e2e.conftest import start_app  # noqa: E402
from tests.security.conftest import create_account  # noqa: E402
from tests.security.loop_load import run_load  # noqa: E402

P99_GOAL_MS = 200.0


def main() -> None:
    """Run the load once and print the health figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--anon", type=int, default=100_000)
    args = parser.parse_args()
    redis_url = find_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                           REPO / ".data")
    if redis_url is None:
        sys.exit("no Redis answers (set REDIS_URL)")
    app = start_app(Path(tempfile.mkdtemp(prefix="loop-bench-")), redis_url,
                    log_name="loop-bench.log")
    try:
        account = create_account(app)
        result = asyncio.run(run_load(app.backend, account.token, account.workflow_id,
                                      seconds=args.seconds, big_count=args.big,
                                      anon_count=args.anon))
    finally:
        app.stop()
    figures = result.summary()
    print(f"health under load for {figures['seconds']} s: "
          f"p50 {figures['health_p50_ms']} ms, p99 {figures['health_p99_ms']} ms "
          f"(goal < {P99_GOAL_MS:.0f} ms), max {figures['health_max_ms']} ms, "
          f"{figures['health_requests']} requests, {figures['health_failures']} failed")
    print(f"largest workflows answered: {figures['largest_workflows_answered']}, anonymous "
          f"events refused: {figures['anonymous_events_refused']}")
    print(json.dumps({**figures, "p99_goal_ms": P99_GOAL_MS,
                      "p99_met": figures["health_p99_ms"] < P99_GOAL_MS}))


if __name__ == "__main__":
    main()
